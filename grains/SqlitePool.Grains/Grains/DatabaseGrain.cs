using Orleans.Concurrency;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using SqlitePool.Engine;
using Orleans.Placement;
using SqlitePool.Hosting;
using SqlitePool.Placement;

namespace SqlitePool.Grains;

/// <summary>
/// The single activation that owns one database. It only arbitrates: every call is forwarded to the pool
/// engine, whose connection workers do the SQLite work, so the grain's turns never block. Calls interleave
/// (<see cref="ReentrantAttribute"/>) so reads run in parallel with the writer.
/// </summary>
[Reentrant]
[NodeAffinePlacement]
[Immovable]
internal sealed partial class DatabaseGrain(
    DatabasePoolRegistry registry,
    IOptions<SqlitePoolOptions> options,
    ILocalSiloDetails silo,
    ILogger<DatabaseGrain> logger) : Grain, IDatabaseGrain
{
    private DatabasePool? _pool;
    private Task<DatabasePool>? _opening;

    public async Task<ExecuteResult> ExecuteAsync(Statement statement, CancellationToken cancellationToken = default) =>
        await (await GetPoolAsync()).ExecuteAsync(statement, cancellationToken);

    public async Task<ExecuteResult[]> ExecuteBatchAsync(Statement[] statements, CancellationToken cancellationToken = default) =>
        await (await GetPoolAsync()).ExecuteBatchAsync(statements, cancellationToken);

    public async Task<QueryResult> QueryAsync(Statement statement, CancellationToken cancellationToken = default) =>
        await (await GetPoolAsync()).QueryAsync(statement, cancellationToken);

    public async Task<LeaseId> AcquireLeaseAsync(LeaseKind kind, CancellationToken cancellationToken = default)
    {
        var lease = await (await GetPoolAsync()).AcquireAsync(kind, cancellationToken);
        LogLeaseAcquired(logger, this.GetPrimaryKeyString(), kind, lease.Id);
        return lease.Id;
    }

    public async Task<ExecuteResult> ExecuteOnLeaseAsync(LeaseId lease, Statement statement, CancellationToken cancellationToken = default) =>
        await (await GetPoolAsync()).GetLease(lease).ExecuteAsync(statement, cancellationToken);

    public async Task<QueryResult> QueryOnLeaseAsync(LeaseId lease, Statement statement, CancellationToken cancellationToken = default) =>
        await (await GetPoolAsync()).GetLease(lease).QueryAsync(statement, cancellationToken);

    public async Task ReleaseLeaseAsync(LeaseId lease)
    {
        if (_pool is { } pool)
        {
            await pool.ReleaseAsync(lease);
        }
    }

    public async Task<PoolStatistics> GetStatisticsAsync() => (await GetPoolAsync()).GetStatistics();

    public async Task CloseAsync()
    {
        if (_pool is { } pool)
        {
            _pool = null;
            _opening = null;
            await pool.CloseAsync();
        }

        DeactivateOnIdle();
    }

    public override async Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        if (_pool is { } pool)
        {
            _pool = null;
            await pool.CloseAsync();
            LogClosed(logger, this.GetPrimaryKeyString(), reason.ReasonCode);
        }
    }

    private Task<DatabasePool> GetPoolAsync() => _pool is { } pool ? Task.FromResult(pool) : _opening ??= OpenAsync();

    private async Task<DatabasePool> OpenAsync()
    {
        try
        {
            var settings = options.Value;
            var key = this.GetPrimaryKeyString();
            var id = DatabaseId.FromGrainKey(key);
            if (!string.Equals(id.Node, silo.Name, StringComparison.Ordinal))
            {
                // Placement never puts a database elsewhere; refuse rather than create a file on the wrong disk.
                throw new DatabaseNodeUnavailableException(key, id.Node, [silo.Name]);
            }

            var path = new DataRoot(settings.DataRoot).Resolve(id);
            var pool = await registry.GetOrOpenAsync(key, path, settings.ResolveFor(id.Path), settings.OnDatabaseOpened);
            LogOpened(logger, key, path, pool.SqliteVersion);
            return _pool = pool;
        }
        catch
        {
            _opening = null;
            throw;
        }
    }

    [LoggerMessage(EventId = SqlitePoolEventIds.DatabaseOpened, Level = LogLevel.Information, Message = "Opened database {Database} at {Path} (SQLite {Version})")]
    private static partial void LogOpened(ILogger logger, string database, string path, string version);

    [LoggerMessage(EventId = SqlitePoolEventIds.DatabaseClosed, Level = LogLevel.Information, Message = "Closed database {Database} ({Reason})")]
    private static partial void LogClosed(ILogger logger, string database, DeactivationReasonCode reason);

    [LoggerMessage(EventId = SqlitePoolEventIds.LeaseAcquired, Level = LogLevel.Debug, Message = "Lease {LeaseId} ({Kind}) acquired on {Database}")]
    private static partial void LogLeaseAcquired(ILogger logger, string database, LeaseKind kind, LeaseId leaseId);
}
