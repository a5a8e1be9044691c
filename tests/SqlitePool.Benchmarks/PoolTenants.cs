using SqlitePool.Client;

namespace SqlitePool.Benchmarks;

/// <summary>The pool's side of the tenant scenarios: a silo in this process with the pool's default options, each
/// database reached through <c>IClusterClient.GetDatabase("local", "tenants/t{i}.db")</c> by async callers.</summary>
internal sealed class PoolTenants : ITenantSide
{
    private readonly BenchmarkSilo _silo;
    private readonly SqliteDatabase[] _databases;

    private PoolTenants(BenchmarkSilo silo, int databases)
    {
        _silo = silo;
        _databases = [.. Enumerable.Range(0, databases).Select(i => silo.Database($"tenants/t{i}.db"))];
    }

    public static async Task<PoolTenants> StartAsync(string directory, int databases) =>
        new(await BenchmarkSilo.StartAsync(directory, _ => { }), databases);

    public bool Blocking => false;

    public int OpenDatabases => Microsoft.Extensions.DependencyInjection.ServiceProviderServiceExtensions
        .GetRequiredService<SqlitePool.Engine.DatabasePoolRegistry>(_silo.Services).OpenPools.Count(p => !p.IsClosed);

    public async Task CreateAsync(int database)
    {
        await _databases[database].ExecuteAsync(TenantWorkload.Create);
        await _databases[database].ExecuteAsync(TenantWorkload.Insert, TenantWorkload.Value);
    }

    public async Task ReadAsync(int database, long id)
    {
        var result = await _databases[database].QueryAsync(TenantWorkload.Select, id);
        if (result.RowCount != 1)
        {
            throw new InvalidOperationException($"Row {id} of t{database}.db is missing.");
        }
    }

    public Task InsertAsync(int database) => _databases[database].ExecuteAsync(TenantWorkload.Insert, TenantWorkload.Value);

    /// <summary>The engine's file budget and evictions, for the log.</summary>
    public string EngineState()
    {
        var registry = Microsoft.Extensions.DependencyInjection.ServiceProviderServiceExtensions.GetRequiredService<SqlitePool.Engine.DatabasePoolRegistry>(_silo.Services);
        return $"files {registry.FileBudget.Used:N0} of {registry.FileBudget.Limit:N0}, {registry.OpenPools.Count:N0} databases open, {registry.Evictions:N0} closed for room, {registry.RoomWaits:N0} waits for room";
    }

    /// <summary>Stops the silo's host with every database open.</summary>
    public Task StopAsync() => _silo.StopAsync();

    public ValueTask DisposeAsync() => _silo.DisposeAsync();
}
