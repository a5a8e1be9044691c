using Microsoft.Data.Sqlite;

namespace SqlitePool.Engine;

/// <summary>
/// A connection held by one caller until it is released, expires after <see cref="Hosting.DatabaseOptions.LeaseIdleTimeout"/>
/// unused, or the pool closes. Statements on it run one after another on the connection's worker.
/// </summary>
/// <remarks>A reader lease runs inside one read transaction, so all its statements see one snapshot.
/// A writer or exclusive lease starts in autocommit; an open transaction is rolled back when the lease ends.</remarks>
public sealed class PoolLease : IAsyncDisposable
{
    private readonly object _gate = new();
    private readonly DatabasePool _pool;
    private int _active;
    private bool _ended;
    private string? _expiry;
    private DateTimeOffset _lastUsed;

    internal PoolLease(DatabasePool pool, PooledConnection connection, LeaseKind kind, LeaseHolder holder, DateTimeOffset now)
    {
        _pool = pool;
        Connection = connection;
        Kind = kind;
        Holder = holder;
        AcquiredAt = _lastUsed = now;
    }

    /// <summary>The lease's id.</summary>
    public LeaseId Id { get; } = LeaseId.New();

    /// <summary>What the lease holds.</summary>
    public LeaseKind Kind { get; }

    /// <summary>Who holds it.</summary>
    public LeaseHolder Holder { get; }

    /// <summary>When it was granted.</summary>
    public DateTimeOffset AcquiredAt { get; }

    internal PooledConnection Connection { get; }

    /// <summary>Runs a write (a reader lease refuses it with <see cref="WriteOnReadPathException"/>).</summary>
    public Task<ExecuteResult> ExecuteAsync(Statement statement, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(statement);
        var readPath = Kind == LeaseKind.Reader;
        var (metrics, started) = (_pool.Metrics, _pool.Metrics?.OperationStart() ?? 0);
        var committed = false;
        var run = RunAsync(c =>
        {
            var before = _pool.TransactionId;
            var result = readPath
                ? new ExecuteResult(0, 0, StatementRunner.Query(c.Handle!, statement, readPath: true))
                : StatementRunner.Execute(c.Handle!, statement) with { TransactionId = _pool.TransactionId };
            committed = result.TransactionId > before;
            metrics?.Wrote(result.Changes, started, "execute");
            return result;
        }, cancellationToken);
        return _pool.AcksAfterBackup ? AckedAsync(run) : run;

        async Task<ExecuteResult> AckedAsync(Task<ExecuteResult> running)
        {
            var result = await running.ConfigureAwait(false);
            if (committed)
            {
                // A COMMIT (or an autocommit write) on the lease: answered once it is stored.
                await _pool.WaitStoredAsync(result.TransactionId).ConfigureAwait(false);
            }

            return result;
        }
    }

    /// <summary>Runs a query; on a reader lease, statements that write are refused.</summary>
    public Task<QueryResult> QueryAsync(Statement statement, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(statement);
        var readPath = Kind == LeaseKind.Reader;
        var (metrics, started) = (_pool.Metrics, _pool.Metrics?.OperationStart() ?? 0);
        var committedAs = 0L;
        var run = RunAsync(c =>
        {
            var before = _pool.TransactionId;
            var result = StatementRunner.Query(c.Handle!, statement, readPath);
            committedAs = _pool.TransactionId is var after && after > before ? after : 0;
            return metrics is null ? result : metrics.Queried(result, started);
        }, cancellationToken);
        return _pool.AcksAfterBackup && !readPath ? AckedAsync(run) : run;

        async Task<QueryResult> AckedAsync(Task<QueryResult> running)
        {
            var result = await running.ConfigureAwait(false);
            if (committedAs > 0)
            {
                // A write that returns rows (INSERT ... RETURNING), or a COMMIT, on a writer lease.
                await _pool.WaitStoredAsync(committedAs).ConfigureAwait(false);
            }

            return result;
        }
    }

    /// <summary>Runs <paramref name="work"/> with the leased <see cref="SqliteConnection"/> on its worker thread.
    /// The connection must not be kept after the delegate returns.</summary>
    /// <exception cref="LeaseNotFoundException">The lease has ended.</exception>
    public async Task<T> RunAsync<T>(Func<SqliteConnection, T> work, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(work);
        lock (_gate)
        {
            if (_ended)
            {
                throw Ended();
            }

            _active++;
        }

        try
        {
            _pool.CountStatement(Kind);
            return await Connection.Worker.RunAsync(c => IsHeld() ? work(c) : throw Ended(), cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            lock (_gate)
            {
                _active--;
                _lastUsed = _pool.Now;
            }
        }
    }

    /// <summary>On the connection's thread, as a statement starts: the lease may have ended since the statement was
    /// sent, and then the connection may be rolled back already, or another holder's.</summary>
    private bool IsHeld()
    {
        lock (_gate)
        {
            return !_ended;
        }
    }

    private LeaseNotFoundException Ended() => new(_pool.Database, Id, _expiry);

    /// <summary>Ends the lease (same as <see cref="DatabasePool.ReleaseAsync(LeaseId)"/>).</summary>
    public ValueTask DisposeAsync() => new(_pool.EndLeaseAsync(this));

    internal LeaseInfo ToInfo()
    {
        lock (_gate)
        {
            return new LeaseInfo(Id, Kind, AcquiredAt, _lastUsed, Holder);
        }
    }

    /// <summary>Marks the lease ended, by its holder or (with <paramref name="reason"/>) by the pool;
    /// false when it already was.</summary>
    internal bool TryEnd(string? reason = null)
    {
        lock (_gate)
        {
            if (_ended)
            {
                return false;
            }

            _ended = true;
            _expiry = reason;
            return true;
        }
    }

    /// <summary>Marks the lease expired when no statement runs on it and it has been idle longer than
    /// <paramref name="idleLimit"/> or held longer than <paramref name="holdLimit"/>; returns why, or null.</summary>
    internal string? TryExpire(DateTimeOffset now, TimeSpan idleLimit, TimeSpan holdLimit)
    {
        lock (_gate)
        {
            if (_ended || _active > 0)
            {
                return null;
            }

            _expiry = now - _lastUsed >= idleLimit ? $"was idle longer than LeaseIdleTimeout ({idleLimit})"
                : now - AcquiredAt >= holdLimit ? $"was held longer than MaxLeaseHoldTime ({holdLimit})"
                : null;
            _ended = _expiry is not null;
            return _expiry;
        }
    }
}
