using System.Runtime.CompilerServices;
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
    IClusterMembershipService membership,
    LocalCallRouter router,
    ILogger<DatabaseGrain> logger) : Grain, IDatabaseGrain
{
    private const int MaxStreamBatchRows = 65536;
    private readonly LeaseHolderWatch _holders = new(options.Value.HolderCheckInterval);
    private DatabasePool? _pool;
    private Task<DatabasePool>? _opening;

    // Runs only while leases are held: an idle database has no timer (its housekeeping is the engine's one sweeper).
    private IGrainTimer? _holderCheck;

    // The open pool is called directly (no await here): the hot paths cost one task, the engine's.
    public Task<ExecuteResult> ExecuteAsync(Statement statement) => ExecuteAsync(statement, CancellationToken.None);

    public Task<ExecuteResult> ExecuteAsync(Statement statement, CancellationToken cancellationToken) =>
        Call(p => p.ExecuteAsync(statement, cancellationToken));

    public Task<ExecuteResult[]> ExecuteBatchAsync(Statement[] statements, CancellationToken cancellationToken = default) =>
        Call(p => p.ExecuteBatchAsync(statements, cancellationToken));

    public Task<QueryResult> QueryAsync(Statement statement) => QueryAsync(statement, CancellationToken.None);

    public Task<QueryResult> QueryAsync(Statement statement, CancellationToken cancellationToken) =>
        Call(p => p.QueryAsync(statement, cancellationToken));

    public Task<ExecuteOutcome[]> ExecuteEachAsync(Statement[] statements) => Call(p => p.ExecuteEachAsync(statements));

    public Task<QueryOutcome[]> QueryEachAsync(Statement[] statements) => Call(p => p.QueryEachAsync(statements));

    /// <summary>Runs <paramref name="call"/> on the open pool, or on the pool that opens now. A pool that closed by itself
    /// (idle, or to give its files to another database) refuses a call before anything of it runs: at its entry, under
    /// its lock, once it is closed. So the refused call goes to the pool that opens next, and the caller never sees it.</summary>
    private Task<T> Call<T>(Func<DatabasePool, Task<T>> call)
    {
        if (_pool is not { IsClosed: false } pool)
        {
            return OpenThen(call);
        }

        try
        {
            var task = call(pool);
            return task.IsFaulted && pool.Retired && task.Exception?.InnerException is DatabaseClosedException ? OpenThen(call) : task;
        }
        catch (DatabaseClosedException) when (pool.Retired)
        {
            return OpenThen(call);
        }
    }

    public async IAsyncEnumerable<QueryResult> StreamAsync(Statement statement, int batchRows = 1024, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        if (batchRows is < 1 or > MaxStreamBatchRows)
        {
            throw new ArgumentOutOfRangeException(nameof(batchRows), batchRows, $"A batch holds 1 to {MaxStreamBatchRows} rows.");
        }

        await using var cursor = await OpenThen(p => p.OpenCursorAsync(statement, cancellationToken));

        // One batch read ahead: the reader fills the next batch while this one travels to the caller.
        var next = cursor.ReadAsync(batchRows, cancellationToken);
        try
        {
            while (await next is { } batch)
            {
                next = cursor.ReadAsync(batchRows, cancellationToken);
                yield return batch;
            }
        }
        finally
        {
            // A caller that stops early leaves the read ahead running: it ends before the cursor does.
            try
            {
                await next;
            }
            catch (Exception)
            {
                // Its error, if any, is the caller's no longer.
            }
        }
    }

    public async Task<LeaseId> AcquireLeaseAsync(LeaseKind kind, ILeaseHolderObserver? holder = null, CancellationToken cancellationToken = default)
    {
        var identity = Identify(holder);
        var lease = await OpenThen(p => p.AcquireAsync(kind, identity, cancellationToken));
        if (holder is not null)
        {
            _holders.Track(lease.Id, holder);
        }

        var every = options.Value.HolderCheckInterval;
        _holderCheck ??= this.RegisterGrainTimer(RevokeAbandonedLeasesAsync, new GrainTimerCreationOptions(every, every) { Interleave = true });

        LogLeaseAcquired(logger, this.GetPrimaryKeyString(), kind, lease.Id, identity);
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
            LogLeaseReleased(logger, this.GetPrimaryKeyString(), lease);
        }
    }

    public async Task<PoolStatistics> GetStatisticsAsync() => (await GetPoolAsync()).GetStatistics();

    /// <summary>Closes the pool; the next call opens it again. The activation stays, left to Orleans' idle collection:
    /// one deactivated here made calls that reached it meanwhile fail with Orleans' forwarding errors
    /// (<see cref="OrleansMessageRejectionException"/>) instead of opening the database again.</summary>
    public async Task CloseAsync()
    {
        // Change subscriptions end with the pool, as they did when the activation went with it. (Not behind a subscribe
        // that waits for the writer: this close is what ends that wait.)
        _notifier?.Dispose();
        _notifier = null;
        _subscribers.Clear();

        var (pool, opening) = (_pool, _opening);
        _pool = null;
        _opening = null;
        if (pool is not null)
        {
            await pool.CloseAsync();
        }

        // An open still running when the close came: the pool it opens is closed too, and its callers are refused.
        if (opening is { IsCompleted: false })
        {
            DatabasePool opened;
            try
            {
                opened = await opening;
            }
            catch (Exception)
            {
                return; // it failed: nothing is open
            }

            if (ReferenceEquals(_pool, opened))
            {
                _pool = null;
            }

            await opened.CloseAsync();
        }
    }

    public override async Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        if (_pool is { } pool)
        {
            _pool = null;

            // Collected as idle while code on this silo may still use the pool directly (silo-local calls, which send
            // this activation no message while they run): a pool in use stays open, closes by itself once idle, and the
            // next activation finds it open.
            var closing = reason.ReasonCode == DeactivationReasonCode.ActivationIdle && _subscribers.Count == 0
                ? pool.CloseUnlessInUse()
                : pool.CloseAsync();
            if (closing is null)
            {
                LogLeftOpen(logger, this.GetPrimaryKeyString());
                return;
            }

            await closing;
            LogClosed(logger, this.GetPrimaryKeyString(), reason.ReasonCode);
        }
    }

    // The client library stamps lease requests (no call filter: one would slow every call down).
    private static LeaseHolder Identify(ILeaseHolderObserver? observer)
    {
        var silo = RequestContext.Get(LeaseRequesters.SiloKey) as string;
        if (RequestContext.Get(LeaseRequesters.CallerKey) is string grain)
        {
            return new LeaseHolder(grain, silo, IsClient: false);
        }

        return observer is not null
            ? new LeaseHolder(observer.GetGrainId().ToString(), silo, IsClient: true)
            : LeaseHolder.Unknown with { Silo = silo };
    }

    private async Task RevokeAbandonedLeasesAsync(CancellationToken cancellationToken)
    {
        if (_pool is not { } pool || pool.HeldLeases() is not { Count: > 0 } held)
        {
            // Nothing held: the check stops until the next lease.
            _holderCheck?.Dispose();
            _holderCheck = null;
            return;
        }

        foreach (var (lease, reason) in await _holders.FindAbandonedAsync(held, membership.CurrentSnapshot))
        {
            if (await pool.RevokeAsync(lease, reason))
            {
                LogLeaseRevoked(logger, this.GetPrimaryKeyString(), lease, reason);
            }
        }
    }

    private async Task<T> OpenThen<T>(Func<DatabasePool, Task<T>> call)
    {
        while (true)
        {
            var pool = await GetPoolAsync();
            try
            {
                return await call(pool);
            }
            catch (DatabaseClosedException) when (pool.Retired)
            {
                // Closed by itself (idle, or for another database's files) before the call got in: it never ran.
            }
        }
    }

    /// <summary>The open pool. One that closed (closed by a call, or by the silo) is opened again: the registry waits
    /// for its close to end before it opens the file anew.</summary>
    private Task<DatabasePool> GetPoolAsync()
    {
        if (_pool is { IsClosed: false } pool)
        {
            return Task.FromResult(pool);
        }

        // An open in progress is shared; one that ended (with a pool since closed, or with an error) is tried again.
        if (_opening is null || _opening.IsCompleted)
        {
            _opening = OpenAsync();
        }

        return _opening;
    }

    /// <summary>This database's file. Placement never puts a database elsewhere; refuse rather than touch the wrong disk.</summary>
    private (DatabaseId Id, string Path) Locate()
    {
        var key = this.GetPrimaryKeyString();
        var id = DatabaseId.FromGrainKey(key);
        if (!string.Equals(id.Node, silo.Name, StringComparison.Ordinal))
        {
            throw new DatabaseNodeUnavailableException(key, id.Node, [silo.Name]);
        }

        return (id, new DataRoot(options.Value.DataRoot).Resolve(id));
    }

    private async Task<DatabasePool> OpenAsync()
    {
        try
        {
            var settings = options.Value;
            var key = this.GetPrimaryKeyString();
            var (id, path) = Locate();
            var migrations = Migrator.For(settings.Migrations, key, id.Path);
            var onOpened = migrations.Count == 0 ? settings.OnDatabaseOpened : context =>
            {
                Migrator.Apply(context.Connection, key, migrations);
                settings.OnDatabaseOpened?.Invoke(context);
            };
            var pool = await registry.GetOrOpenAsync(key, path, settings.ResolveFor(id.Path), onOpened);
            LogOpened(logger, key, path, pool.SqliteVersion);

            // This activation just had a message: silo-local calls to the new pool need not come through it yet.
            router.Touched(pool);
            return _pool = pool;
        }
        catch (Exception ex)
        {
            _opening = null;
            LogOpenFailed(logger, ex, this.GetPrimaryKeyString(), ex.Message);
            throw;
        }
    }

    // Debug, as the engine's idle closes: a silo with thousands of databases opens and closes hundreds a second.
    [LoggerMessage(EventId = SqlitePoolEventIds.DatabaseOpened, Level = LogLevel.Debug, Message = "Opened database {Database} at {Path} (SQLite {Version})")]
    private static partial void LogOpened(ILogger logger, string database, string path, string version);

    [LoggerMessage(EventId = SqlitePoolEventIds.DatabaseOpenFailed, Level = LogLevel.Error, Message = "Could not open database {Database}: {Error}")]
    private static partial void LogOpenFailed(ILogger logger, Exception exception, string database, string error);

    [LoggerMessage(EventId = SqlitePoolEventIds.LeaseReleased, Level = LogLevel.Debug, Message = "Lease {LeaseId} on {Database} released")]
    private static partial void LogLeaseReleased(ILogger logger, string database, LeaseId leaseId);

    [LoggerMessage(EventId = SqlitePoolEventIds.DatabaseClosed, Level = LogLevel.Debug, Message = "Closed database {Database} ({Reason})")]
    private static partial void LogClosed(ILogger logger, string database, DeactivationReasonCode reason);

    [LoggerMessage(EventId = SqlitePoolEventIds.LeftOpenInUse, Level = LogLevel.Debug, Message = "Database {Database} stays open: its grain was collected as idle while silo-local calls used it")]
    private static partial void LogLeftOpen(ILogger logger, string database);

    [LoggerMessage(EventId = SqlitePoolEventIds.LeaseAcquired, Level = LogLevel.Debug, Message = "Lease {LeaseId} ({Kind}) acquired on {Database} by {Holder}")]
    private static partial void LogLeaseAcquired(ILogger logger, string database, LeaseKind kind, LeaseId leaseId, LeaseHolder holder);

    [LoggerMessage(EventId = SqlitePoolEventIds.LeaseRevoked, Level = LogLevel.Warning, Message = "Lease {LeaseId} on {Database} revoked: {Reason}")]
    private static partial void LogLeaseRevoked(ILogger logger, string database, LeaseId leaseId, string reason);
}
