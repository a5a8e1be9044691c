using SqlitePool.Client;
using SqlitePool.Hosting;
using SqlitePool.Placement;

namespace SqlitePool.Tests.MultiSilo;

/// <summary>A grain on a chosen silo (its key starts with the node) that uses databases of any node.</summary>
public interface IRelayGrain : IGrainWithStringKey
{
    Task<string> GetNodeAsync();

    Task<long> InsertAsync(string node, string path, string value);

    Task<string[]> ReadAsync(string node, string path);

    Task<long> InsertLocalAsync(string path, string value);

    /// <summary>Reads table t of this silo's <paramref name="path"/> through <c>LocalDatabases</c>.</summary>
    Task<string[]> ReadLocalAsync(string path);

    /// <summary>Takes a writer lease, begins a transaction, inserts <paramref name="value"/> and keeps the lease.</summary>
    Task<LeaseId> HoldOpenTransactionAsync(string node, string path, string value);
}

[NodeAffinePlacement]
public sealed class RelayGrain(LocalDatabases local) : Grain, IRelayGrain
{
    private DatabaseLease? _held;

    public Task<string> GetNodeAsync() => Task.FromResult(local.Node);

    public async Task<long> InsertAsync(string node, string path, string value) =>
        (await GrainFactory.GetDatabase(node, path).ExecuteAsync("INSERT INTO t(v) VALUES (?)", value)).LastInsertRowId;

    public async Task<string[]> ReadAsync(string node, string path) =>
        [.. await GrainFactory.GetDatabase(node, path).QueryAsync<string>("SELECT v FROM t ORDER BY rowid")];

    public async Task<LeaseId> HoldOpenTransactionAsync(string node, string path, string value)
    {
        _held = await GrainFactory.GetDatabase(node, path).AcquireWriterAsync();
        await _held.ExecuteAsync("BEGIN IMMEDIATE");
        await _held.ExecuteAsync("INSERT INTO t(v) VALUES (?)", value);
        return _held.Id;
    }

    public async Task<string[]> ReadLocalAsync(string path) =>
        [.. await local.Get(path).QueryAsync<string>("SELECT v FROM t ORDER BY rowid")];

    public async Task<long> InsertLocalAsync(string path, string value)
    {
        var db = local.Get(path);
        await db.ExecuteAsync("CREATE TABLE IF NOT EXISTS t(v)");
        return (await db.ExecuteAsync("INSERT INTO t(v) VALUES (?)", value)).LastInsertRowId;
    }
}
