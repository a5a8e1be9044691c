using System.Collections.Concurrent;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using SqlitePool.Diagnostics;
using SqlitePool.Hosting;
using SQLitePCL;

namespace SqlitePool.Engine;

/// <summary>
/// The pool of one SQLite database: one writer and up to <see cref="DatabaseOptions.MaxReaders"/> readers
/// opened on demand, whose work runs on the silo-wide <see cref="SqliteScheduler"/>; FIFO waiters per role; leases with an idle
/// timeout; exclusive access. Plain .NET: no Orleans types, usable from any host.
/// </summary>
/// <remarks>
/// Who holds which connection, who waits and who is next is the <see cref="ConnectionArbiter"/>'s, under its lock,
/// which also guards the pool's own state beside it; SQLite work never runs under it. Waiters are
/// completed with continuations forced asynchronous, so granting under the lock runs no caller code.
/// The pool touches its files (database, <c>-wal</c>, <c>-shm</c>) only through SQLite while they are open: closing
/// any descriptor of a file drops every POSIX lock the process holds on it, SQLite's included.
/// </remarks>
public sealed partial class DatabasePool : IAsyncDisposable
{
    private readonly ConnectionArbiter _arbiter;
    private readonly DatabaseOptions _options;
    private readonly TimeProvider _time;
    private readonly SqliteScheduler _scheduler;
    private readonly Action<DatabasePool>? _onClosed;
    private readonly PooledConnection _writer;
    private readonly FileStream _fence;
    private readonly WalProgress _wal;
    private int _fenceHolds = 2;
    private Task? _writerClosing;
    private Task? _closeTask;
    private TaskCompletionSource? _drained;
    private long _reads;
    private long _sharedReadCalls;
    private long _readsOnCaller;
    private long _readsOnWriter;
    private long _sharedWriteCalls;
    private long _writes;
    private long _expired;
    private readonly ConcurrentDictionary<QueryCursor, bool> _cursors = new();
    private long _revoked;
    private long _commits;
    private long _statementTimeouts;
    private ILogger _logger = NullLogger.Instance;
    private readonly Backup.BackupShipper? _backup;

    private DatabasePool(
        string database, string path, DatabaseOptions options, TimeProvider time, SqliteScheduler scheduler, PooledConnection writer, string sqliteVersion, WalProgress wal, FileStream fence, Action<DatabasePool>? onClosed)
    {
        _fence = fence;
        _wal = wal;
        Database = database;
        Path = path;
        _options = options;
        _time = time;
        LongReads = new LongReads(time);
        _scheduler = scheduler;
        _writer = writer;
        _arbiter = new ConnectionArbiter(this, writer, options, time);
        _onClosed = onClosed;
        SqliteVersion = sqliteVersion;
        OpenedAt = time.GetUtcNow();
        writer.Worker.TimeoutError = StatementTimedOut;
        writer.Worker.ClosedError = ClosedPastLimit;
        _lastUsedAt = _lastGovernedAt = OpenedAt;
        _sweepPeriod = SweepPeriodFor(options);
        _sweeper = PoolSweeper.For(time);
        _sweeper.Schedule(this, OpenedAt + _sweepPeriod);
        _backup = wal.Shipper;
        if (_backup is not null)
        {
            _backup.ChainConfirmed = () => wal.Foreign = false;
            _backup.Start(TakeBackupSnapshotAsync);
        }
    }

    /// <summary>The database's key (grain key <c>node/path</c>, or any name the host gives it).</summary>
    public string Database { get; }

    /// <summary>The full path of the database file.</summary>
    public string Path { get; }

    /// <summary>SQLite's library version, read when the pool opened.</summary>
    public string SqliteVersion { get; }

    /// <summary>When the pool opened.</summary>
    public DateTimeOffset OpenedAt { get; }

    /// <summary>True once <see cref="CloseAsync"/> has begun.</summary>
    public bool IsClosed => _arbiter.IsClosed;

    /// <summary>Where measurements go (set by the registry); null reports nothing.</summary>
    internal PoolMetrics? Metrics { get; set; }

    /// <summary>Where expiries and timeouts are logged (set by the registry).</summary>
    internal ILogger Logger
    {
        get => _logger;
        set
        {
            _logger = value;
            if (_backup is not null)
            {
                _backup.Logger = value;
            }
        }
    }

    /// <summary>The id of the last transaction committed on the database: one more at every commit, never repeated
    /// (counted on across closes and crashes from the lock file's mark, <see cref="Backup.TransactionMark"/>); 0 before
    /// the first.</summary>
    public long TransactionId => _wal.Transactions;

    /// <summary>The open could not count the transactions since the last mark exactly, and the ids jumped ahead.</summary>
    internal bool TransactionIdsJumped { get; init; }

    /// <summary>The lock file, held open while the pool is (its content: the transaction mark).</summary>
    internal FileStream LockFile => _fence;

    /// <summary>The settings in force.</summary>
    public DatabaseOptions Options => _options;

    /// <summary>Runs a write with autocommit semantics on the writer. Writes that wait together are committed
    /// together (group commit); a failing write is undone alone and fails only its own caller.</summary>
    /// <exception cref="SqlStatementException">SQLite failed the statement, or it left a transaction open
    /// (which is rolled back: use a writer lease for transactions).</exception>
    public async Task<ExecuteResult> ExecuteAsync(Statement statement, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(statement);
        Interlocked.Increment(ref _writes);
        var started = Metrics?.OperationStart() ?? 0;
        var result = (await SubmitWrite(new WriteJob([statement], isBatch: false, cancellationToken)).ConfigureAwait(false))[0];
        Metrics?.Wrote(result.Changes, started, "execute");
        if (_backup is { AckAfterBackup: true } backup)
        {
            await backup.WaitStoredAsync(result.TransactionId).ConfigureAwait(false);
        }

        return result;
    }

    /// <summary>Runs independent autocommit writes as one arrival: they join one commit group (as many as fit),
    /// and each has its own outcome, as if each had come through <see cref="ExecuteAsync"/>.</summary>
    public Task<ExecuteOutcome[]> ExecuteEachAsync(IReadOnlyList<Statement> statements)
    {
        var writes = Independent(statements);
        return writes.Length == 0 ? Task.FromResult(Array.Empty<ExecuteOutcome>()) : RunEachWriteAsync(writes);
    }

    private async Task<ExecuteOutcome[]> RunEachWriteAsync(Statement[] writes)
    {
        Interlocked.Add(ref _writes, writes.Length);
        Interlocked.Increment(ref _sharedWriteCalls);
        var started = Metrics?.OperationStart() ?? 0;
        var jobs = writes.Select(s => new WriteJob([s], isBatch: false, CancellationToken.None)).ToList();
        SubmitWrites(jobs);
        var outcomes = new ExecuteOutcome[jobs.Count];
        for (var i = 0; i < jobs.Count; i++)
        {
            try
            {
                var result = (await jobs[i].Task.ConfigureAwait(false))[0];
                Metrics?.Wrote(result.Changes, started, "execute");
                outcomes[i] = new ExecuteOutcome(result, null);
            }
            catch (Exception ex)
            {
                outcomes[i] = new ExecuteOutcome(null, ex);
            }
        }

        return _backup is { AckAfterBackup: true } ? await AckedAsync(outcomes).ConfigureAwait(false) : outcomes;
    }

    /// <summary>Runs the statements all or nothing (one transaction, or one savepoint of a commit group).</summary>
    /// <exception cref="SqlStatementException">A statement failed; <see cref="SqlStatementException.StatementIndex"/> says which. Nothing was written.</exception>
    public Task<ExecuteResult[]> ExecuteBatchAsync(IReadOnlyList<Statement> statements, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(statements);
        Interlocked.Add(ref _writes, statements.Count);
        return statements.Count == 0 ? Task.FromResult(Array.Empty<ExecuteResult>()) : RunBatchAsync([.. statements], cancellationToken);
    }

    private async Task<ExecuteResult[]> RunBatchAsync(Statement[] statements, CancellationToken cancellationToken)
    {
        var started = Metrics?.OperationStart() ?? 0;
        var results = await SubmitWrite(new WriteJob(statements, isBatch: true, cancellationToken)).ConfigureAwait(false);
        Metrics?.Wrote(results.Sum(r => r.Changes), started, "batch");
        if (_backup is { AckAfterBackup: true } backup)
        {
            await backup.WaitStoredAsync(results.Max(r => r.TransactionId)).ConfigureAwait(false);
        }

        return results;
    }

    /// <summary>Runs a read on a reader connection.</summary>
    /// <exception cref="WriteOnReadPathException">The statement writes or controls transactions.</exception>
    public Task<QueryResult> QueryAsync(Statement statement, CancellationToken cancellationToken = default) =>
        Query(statement, onCaller: false, cancellationToken);

    /// <summary>
    /// Runs a read as <see cref="QueryAsync"/> does, but from a thread that may be held a moment: when a reader is free
    /// at once, the read runs on the calling thread, saving two thread hand-offs; one still running after
    /// <see cref="DatabaseOptions.CallerThreadReadLimit"/> is stopped and runs again on the scheduler. Never call it from
    /// an Orleans turn or from SQLite work (it then behaves as <see cref="QueryAsync"/>).
    /// </summary>
    /// <exception cref="WriteOnReadPathException">The statement writes or controls transactions.</exception>
    public Task<QueryResult> QueryOnCallerAsync(Statement statement, CancellationToken cancellationToken = default) =>
        Query(statement, onCaller: ConnectionWorker.Current is null, cancellationToken);

    /// <summary>Reads that passed <see cref="DatabaseOptions.CallerThreadReadLimit"/> on a caller's thread or a
    /// borrowed writer.</summary>
    internal LongReads LongReads { get; }

    private Task<QueryResult> Query(Statement statement, bool onCaller, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(statement);
        cancellationToken.ThrowIfCancellationRequested();
        Interlocked.Increment(ref _reads);
        var onWriter = SqlKeywords.MayBorrowWriter(statement.Sql);
        var job = Metrics is { } metrics ? Measured(metrics, metrics.OperationStart())
            : new WorkItem<QueryResult>(c => RunQuery(c, statement), cancellationToken) { MayRunOnWriter = onWriter };

        // A read may run briefly where it saves a hand-off or a reader's open, unless it was long there lately.
        var quick = _options.CallerThreadReadLimit > TimeSpan.Zero && !LongReads.Knows(statement.Sql) ? statement.Sql : null;
        SubmitRead(job, cancellationToken, onCallerSql: onCaller ? quick : null, borrowSql: onWriter ? quick : null);
        return job.Task;

        WorkItem<QueryResult> Measured(PoolMetrics metrics, long submitted) =>
            new(c => metrics.Queried(RunQuery(c, statement), submitted), cancellationToken) { MayRunOnWriter = onWriter };
    }

    /// <summary>Runs independent reads one after another on one reader (a single hand-off), in one snapshot taken
    /// when the first starts (<see cref="SharedSnapshot"/>), each under its own statement deadline; a read that fails
    /// fails alone.</summary>
    public Task<QueryOutcome[]> QueryEachAsync(IReadOnlyList<Statement> statements) => QueryEach(statements, waitingSince: null);

    /// <summary>Runs reads as <see cref="QueryEachAsync(IReadOnlyList{Statement})"/> does, for callers that began to wait
    /// at <paramref name="waitingSince"/> (a timestamp of the pool's clock) elsewhere, for a hand-off they share: their
    /// wait for a reader counts from then, so it ends within <see cref="DatabaseOptions.AcquireTimeout"/> of it.</summary>
    public Task<QueryOutcome[]> QueryEachAsync(IReadOnlyList<Statement> statements, long waitingSince) => QueryEach(statements, waitingSince);

    private Task<QueryOutcome[]> QueryEach(IReadOnlyList<Statement> statements, long? waitingSince)
    {
        var reads = Independent(statements);
        if (reads.Length == 0)
        {
            return Task.FromResult(Array.Empty<QueryOutcome>());
        }

        Interlocked.Add(ref _reads, reads.Length);
        Interlocked.Increment(ref _sharedReadCalls);
        var metrics = Metrics;
        WorkItem<QueryOutcome[]> job = null!;
        job = new WorkItem<QueryOutcome[]>(c => RunEach(c, reads, job, metrics), CancellationToken.None);
        SubmitRead(job, CancellationToken.None, waitingSince: waitingSince);
        return job.Task;
    }

    /// <summary>A copy of the statements of a QueryEach or ExecuteEach call, none of them null.</summary>
    private static Statement[] Independent(IReadOnlyList<Statement> statements)
    {
        ArgumentNullException.ThrowIfNull(statements);
        Statement[] copy = [.. statements];
        foreach (var statement in copy)
        {
            ArgumentNullException.ThrowIfNull(statement, nameof(statements));
        }

        return copy;
    }

    private static QueryOutcome[] RunEach(SqliteConnection connection, Statement[] reads, WorkItem job, PoolMetrics? metrics)
    {
        var outcomes = new QueryOutcome[reads.Length];
        var (db, worker) = (connection.Handle!, job.Worker!);
        var snapshot = reads.Length > 1 ? SharedSnapshot.Begin(db, worker.Policy) : null;
        long snapshotTakenAt = 0;
        try
        {
            for (var i = 0; i < reads.Length; i++)
            {
                var started = metrics?.OperationStart() ?? 0;
                var now = worker.RestartDeadline();
                snapshotTakenAt = i == 0 ? now : snapshotTakenAt;
                if (snapshot is not null && worker.Time.GetElapsedTime(snapshotTakenAt, now) > SharedSnapshot.MaxAge)
                {
                    // Long reads in one call: a fresh snapshot, so the call never pins the log much past one read.
                    snapshot.End();
                    snapshot = SharedSnapshot.Begin(db, worker.Policy);
                    snapshotTakenAt = now;
                }

                try
                {
                    // Inside the shared snapshot the read path's refusal of transaction control keeps it open.
                    var result = snapshot is null ? RunQuery(connection, reads[i]) : StatementRunner.Query(db, reads[i], readPath: true);
                    outcomes[i] = new QueryOutcome(metrics is null ? result : metrics.Queried(result, started), null);
                }
                catch (Exception ex)
                {
                    outcomes[i] = new QueryOutcome(null, job.StatementError(ex));
                }
            }
        }
        finally
        {
            snapshot?.End();
        }

        return outcomes;
    }

    /// <summary>Opens a cursor over one read statement on a reader it holds until disposed (FIFO with reader leases).</summary>
    /// <exception cref="WriteOnReadPathException">The statement writes or controls transactions.</exception>
    public async Task<QueryCursor> OpenCursorAsync(Statement statement, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(statement);
        var reader = await AcquireConnectionAsync(LeaseKind.Reader, cancellationToken).ConfigureAwait(false);
        SQLitePCL.sqlite3_stmt stmt;
        try
        {
            stmt = await reader.Worker.RunAsync(c => StatementRunner.PrepareCursor(c.Handle!, statement), cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            ReleaseReader(reader);
            throw;
        }

        // From here the cursor owns the reader: disposing it gives the reader back.
        var cursor = new QueryCursor(this, reader, stmt, statement.Sql);
        _cursors[cursor] = true;
        if (IsClosed)
        {
            // Closed while it opened: the close did not see it.
            await cursor.DisposeAsync().ConfigureAwait(false);
            throw new DatabaseClosedException(Database);
        }

        return cursor;
    }

    internal void ReleaseReader(PooledConnection reader) => ReleaseConnection(reader, LeaseKind.Reader);

    internal void ForgetCursor(QueryCursor cursor) => _cursors.TryRemove(cursor, out _);

    /// <summary>A snapshot of the pool's state.</summary>
    public PoolStatistics GetStatistics()
    {
        var walBytes = WalBytes();
        var oldestReader = OldestReaderSnapshot();
        var backup = BackupState;
        lock (_arbiter.Gate)
        {
            var counts = _arbiter.Counts;
            return new PoolStatistics
            {
                Database = Database,
                SqliteVersion = SqliteVersion,
                WriterBusy = counts.WriterBusy,
                ExclusiveHeld = counts.ExclusiveHeld,
                ReadersOpen = counts.ReadersOpen,
                ReadersIdle = counts.ReadersIdle,
                ReadersBusy = counts.ReadersOpen - counts.ReadersIdle,
                MaxReaders = _options.MaxReaders,
                WriterWaiters = counts.WriterWaiters,
                ReaderWaiters = counts.ReaderWaiters,
                ExclusiveWaiters = counts.ExclusiveWaiters,
                Writes = Interlocked.Read(ref _writes),
                Reads = Interlocked.Read(ref _reads),
                SharedReadCalls = Interlocked.Read(ref _sharedReadCalls),
                ReadsOnCaller = Interlocked.Read(ref _readsOnCaller),
                ReadsOnWriter = Interlocked.Read(ref _readsOnWriter),
                TransactionId = _wal.Transactions,
                TransactionMarkFailures = _wal.MarkFailures,
                SharedWriteCalls = Interlocked.Read(ref _sharedWriteCalls),
                Timeouts = _arbiter.Timeouts + Interlocked.Read(ref _statementTimeouts),
                ExpiredLeases = Interlocked.Read(ref _expired),
                RevokedLeases = Interlocked.Read(ref _revoked),
                Commits = Interlocked.Read(ref _commits),
                Leases = [.. _leases.Values.Select(l => l.ToInfo()).OrderBy(l => l.AcquiredAt)],
                WalBytes = walBytes,
                WalFramesToCheckpoint = _wal.FramesToCheckpoint,
                OldestReaderAge = oldestReader is { } since ? Now - since : null,
                OpenedAt = OpenedAt,
                Backup = backup is null ? null : new BackupStatus(backup.StoredTransaction, Math.Round(backup.Lag.TotalSeconds, 3), backup.LagBytes, backup.StoredBytes, backup.Problem),
            };
        }
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync() => await CloseAsync().ConfigureAwait(false);

    private DatabaseTimeoutException StatementTimedOut()
    {
        Interlocked.Increment(ref _statementTimeouts);
        Metrics?.Timeout();
        PoolLog.StatementTimedOut(Logger, Database, _options.StatementTimeout);
        return new DatabaseTimeoutException(Database, "a statement to finish", _options.StatementTimeout, nameof(DatabaseOptions.StatementTimeout));
    }

    private static QueryResult RunQuery(SqliteConnection connection, Statement statement)
    {
        try
        {
            return StatementRunner.Query(connection.Handle!, statement, readPath: true);
        }
        finally
        {
            PooledConnection.Reset(connection);
        }
    }
}
