using Microsoft.Data.Sqlite;
using SQLitePCL;

namespace SqlitePool.Engine;

/// <summary>One autocommit write or batch waiting to run on the writer, answered once its effect is durable.</summary>
internal sealed class WriteJob
{
    private const int Queued = 0, Posted = 1, Running = 2, Done = 3;
    private readonly TaskCompletionSource<ExecuteResult[]> _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationTokenRegistration _registration;
    private int _state;
    private ExecuteResult[]? _results;
    private Exception? _error;
    private bool? _atomic;

    public WriteJob(Statement[] statements, bool isBatch, CancellationToken cancellationToken)
    {
        Statements = statements;
        IsBatch = isBatch;
        MayGroup = Array.TrueForAll(statements, s => SqlKeywords.MayGroup(s.Sql));
        Token = cancellationToken;
        if (cancellationToken.CanBeCanceled)
        {
            // Only a job still waiting for the writer is cancelled here; a posted one is skipped by its group (and
            // answered after the writer is back), a running one is stopped by the progress handler.
            _registration = cancellationToken.Register(static s => ((WriteJob)s!).TryEndWaiting(null), this);
        }
    }

    public Statement[] Statements { get; }

    /// <summary>A batch: errors name the statement by its index.</summary>
    public bool IsBatch { get; }

    /// <summary>On the writer: true for a batch, or a text SQLite reads as several statements. It runs all or nothing,
    /// in a transaction of its own (or a savepoint in a group).</summary>
    public bool IsAtomic(sqlite3 db) => _atomic ??= IsBatch || !StatementRunner.IsSingleStatement(db, Statements[0].Sql);

    public CancellationToken Token { get; }

    public Task<ExecuteResult[]> Task => _completion.Task;

    /// <summary>True when every statement's leading keyword allows it to share a transaction.</summary>
    public bool MayGroup { get; }

    /// <summary>The job is in a group on the writer's queue.</summary>
    public void MarkPosted()
    {
        lock (this)
        {
            if (_state == Queued)
            {
                _state = Posted;
            }
        }
    }

    public bool TryStart()
    {
        lock (this)
        {
            if (_state != Posted)
            {
                return false;
            }

            _state = Running;
        }

        if (Token.IsCancellationRequested)
        {
            Fail(new OperationCanceledException(Token));
            return false;
        }

        return true;
    }

    /// <summary>Fails a job still waiting for the writer (timed out, pool closed); false once it is posted.</summary>
    public bool TryFail(Exception error) => TryEndWaiting(error);

    /// <summary>True once the running job has its outcome (it is told with <see cref="Answer"/>).</summary>
    public bool HasOutcome => _results is not null || _error is not null;

    public void Succeed(ExecuteResult[] results)
    {
        Finish();
        _results = results;
    }

    /// <summary>Fails a running job; an interrupt caused by its own cancellation becomes a cancellation.</summary>
    public void Fail(Exception error)
    {
        Finish();
        _error = error;
    }

    /// <summary>Tells the caller the outcome, after the writer has been given back.</summary>
    public void Answer()
    {
        if (_results is not null)
        {
            _completion.TrySetResult(_results);
        }
        else if (_error is SqlStatementException { ErrorCode: WorkItem.Interrupted } or OperationCanceledException && Token.IsCancellationRequested)
        {
            _completion.TrySetCanceled(Token);
        }
        else
        {
            _completion.TrySetException(_error ?? new SqlitePoolException("The write ended without an outcome."));
        }
    }

    private void Finish()
    {
        lock (this)
        {
            _state = Done;
        }

        _registration.Unregister();
    }

    /// <summary>Ends a job still waiting for the writer: with <paramref name="error"/>, or cancelled when null.</summary>
    private bool TryEndWaiting(Exception? error)
    {
        lock (this)
        {
            if (_state != Queued)
            {
                return false;
            }

            _state = Done;
        }

        _registration.Unregister();
        if (error is null)
        {
            _completion.TrySetCanceled(Token);
        }
        else
        {
            _completion.TrySetException(error);
        }

        return true;
    }
}

/// <summary>
/// Group commit: the writes waiting for the writer run in one transaction and are answered after the one
/// COMMIT. A write that fails is undone (by SQLite for a statement, by its savepoint for a batch) and fails
/// alone; a write that cannot share a transaction runs by itself after the group. <c>committed</c> counts the writes a
/// commit carried and returns the database's transaction id after it, which their results carry.
/// </summary>
internal sealed class WriteGroup(List<WriteJob> jobs, Action after, Func<int, long> committed) : WorkItem
{
    /// <summary>The most writes committed together.</summary>
    public const int MaxSize = 256;

    // SQLITE_DBSTATUS_DEFERRED_FKS: unresolved deferred foreign-key violations; a group's COMMIT would fail on them.
    private const int DeferredForeignKeys = 10;
    private static readonly Statement Savepoint = new("SAVEPOINT sqlitepool_write");
    private static readonly Statement Release = new("RELEASE sqlitepool_write");
    private static readonly Statement RollbackTo = new("ROLLBACK TO sqlitepool_write");
    private WriteJob? _running;
    private bool _savepoints;

    public override bool CancellationRequested => _running?.Token.IsCancellationRequested == true;

    public override void Execute(SqliteConnection connection)
    {
        var live = new List<WriteJob>();
        try
        {
            live = jobs.FindAll(j => j.TryStart());
            var shared = live.Count > 1 ? live.FindAll(j => j.MayGroup) : [];
            var alone = shared.Count > 1 ? live.FindAll(j => !j.MayGroup) : live;
            if (shared.Count > 1)
            {
                alone.AddRange(RunGroup(connection.Handle!, shared));
            }

            foreach (var job in alone)
            {
                RunAlone(connection, job);
            }
        }
        catch (Exception ex)
        {
            // The group's own statements failed (SAVEPOINT, ROLLBACK): nothing of it was committed.
            PooledConnection.Reset(connection);
            live.FindAll(j => !j.HasOutcome).ForEach(j => j.Fail(ex));
        }
        finally
        {
            // What committed is published before the writer can pass to another holder (whose writes fire the hooks
            // on its own thread); the writer goes back before the callers hear, so what they see next counts it free.
            ChangeTracker.Current?.Settle(connection.Handle!);
            after();
            jobs.ForEach(j => j.Answer());
        }
    }

    /// <summary>Runs the jobs in one transaction; returns those that must run alone.</summary>
    private List<WriteJob> RunGroup(sqlite3 db, List<WriteJob> pending)
    {
        var alone = new List<WriteJob>();
        var succeeded = new List<(WriteJob Job, ExecuteResult[] Results)>();
        while (pending.Count > 0)
        {
            succeeded.Clear();
            try
            {
                StatementRunner.Exec(db, "BEGIN IMMEDIATE");
            }
            catch (Exception ex)
            {
                pending.ForEach(j => j.Fail(ex));
                return alone;
            }

            var lost = false;
            try
            {
                foreach (var job in pending)
                {
                    if (RunInGroup(db, job, alone) is { } results)
                    {
                        succeeded.Add((job, results));
                    }
                    else if (raw.sqlite3_get_autocommit(db) != 0)
                    {
                        // The failure rolled the whole transaction back: run the others again.
                        lost = true;
                        break;
                    }
                }
            }
            catch (NeedsSavepointsException)
            {
                // A write must be undone on its own: start over with a savepoint around each.
                raw.sqlite3_exec(db, "ROLLBACK");
                _savepoints = true;
                lost = true;
            }

            if (lost)
            {
                pending = pending.FindAll(j => !j.HasOutcome && !alone.Contains(j));
                continue;
            }

            // The COMMIT is the group's, under a deadline of its own rather than its last caller's.
            Worker!.RestartDeadline();
            Commit(db, succeeded);
            break;
        }

        return alone;
    }

    /// <summary>Runs one write inside the group's transaction. A single statement needs no savepoint of its own:
    /// SQLite undoes a failed statement and keeps the transaction. A batch or a text of several statements gets one,
    /// so that it is kept whole or not at all; so does every write once one had to be undone whole.</summary>
    private ExecuteResult[]? RunInGroup(sqlite3 db, WriteJob job, List<WriteJob> alone)
    {
        if (job.Token.IsCancellationRequested)
        {
            job.Fail(new OperationCanceledException(job.Token));
            return null;
        }

        if (Worker!.Closing && Worker.ClosedError is { } closed)
        {
            // The pool closed past its limit: nothing more starts (its COMMIT is refused too).
            job.Fail(closed());
            return null;
        }

        _running = job;
        Worker.RestartDeadline();
        var savepoint = _savepoints || job.IsAtomic(db);
        var changes = ChangeTracker.Current?.Mark() ?? 0;
        if (savepoint)
        {
            StatementRunner.Execute(db, Savepoint);
        }

        try
        {
            var results = new ExecuteResult[job.Statements.Length];
            for (var i = 0; i < results.Length; i++)
            {
                results[i] = StatementRunner.Execute(db, job.Statements[i], job.IsBatch ? i : null, WriteScope.Group);
            }

            if (raw.sqlite3_db_status(db, DeferredForeignKeys, out var deferred, out _, 0) == raw.SQLITE_OK && deferred > 0)
            {
                throw savepoint
                    ? new SqlStatementException("SQLite Error 19: 'FOREIGN KEY constraint failed'.", 19, 787, job.Statements[^1].Sql)
                    : new NeedsSavepointsException();
            }

            if (savepoint)
            {
                StatementRunner.Execute(db, Release);
            }

            return results;
        }
        catch (NeedsSavepointsException)
        {
            throw;
        }
        catch (NotGroupableException) when (!savepoint)
        {
            // Only a savepoint could undo what ran before it (a text that looked like one statement but held more).
            throw new NeedsSavepointsException();
        }
        catch (Exception ex)
        {
            var error = Translate(ex, job.Token, out _);
            if (savepoint && raw.sqlite3_get_autocommit(db) == 0)
            {
                StatementRunner.Execute(db, RollbackTo);
                StatementRunner.Execute(db, Release);
            }

            // Nothing of this write stays: its tables did not change.
            ChangeTracker.Current?.Undo(changes);

            if (ex is NotGroupableException)
            {
                alone.Add(job);
            }
            else
            {
                job.Fail(error);
            }

            return null;
        }
        finally
        {
            _running = null;
        }
    }

    private void Commit(sqlite3 db, List<(WriteJob Job, ExecuteResult[] Results)> succeeded)
    {
        try
        {
            ThrowIfClosing();
            StatementRunner.Exec(db, "COMMIT");
        }
        catch (Exception ex)
        {
            raw.sqlite3_exec(db, "ROLLBACK");
            var error = StatementError(ex);
            succeeded.ForEach(s => s.Job.Fail(error));
            return;
        }

        var transaction = committed(succeeded.Count);
        succeeded.ForEach(s => s.Job.Succeed(WithTransaction(s.Results, transaction)));
    }

    private void RunAlone(SqliteConnection connection, WriteJob job)
    {
        _running = job;
        Worker!.RestartDeadline();
        try
        {
            ThrowIfClosing();
            var results = job.IsAtomic(connection.Handle!) ? RunInTransaction(connection.Handle!, job) : [RunAutocommit(connection.Handle!, job.Statements[0])];
            job.Succeed(WithTransaction(results, committed(1)));
        }
        catch (Exception ex)
        {
            job.Fail(Translate(ex, job.Token, out _));
        }
        finally
        {
            _running = null;
            PooledConnection.Reset(connection);
        }
    }

    private static ExecuteResult[] WithTransaction(ExecuteResult[] results, long transaction)
    {
        for (var i = 0; i < results.Length; i++)
        {
            results[i] = results[i] with { TransactionId = transaction };
        }

        return results;
    }

    private static ExecuteResult RunAutocommit(sqlite3 db, Statement statement)
    {
        var result = StatementRunner.Execute(db, statement, scope: WriteScope.Own);
        if (raw.sqlite3_get_autocommit(db) == 0)
        {
            throw new SqlStatementException(
                "The statement left a transaction open; it was rolled back. Run transactions on a writer lease (TransactionAsync).",
                1, 1, statement.Sql);
        }

        return result;
    }

    private ExecuteResult[] RunInTransaction(sqlite3 db, WriteJob job)
    {
        StatementRunner.Exec(db, "BEGIN IMMEDIATE");
        var results = new ExecuteResult[job.Statements.Length];
        for (var i = 0; i < results.Length; i++)
        {
            results[i] = StatementRunner.Execute(db, job.Statements[i], job.IsBatch ? i : null, WriteScope.Own);
        }

        ThrowIfClosing();
        StatementRunner.Exec(db, "COMMIT");
        return results;
    }

    /// <summary>The pool closed past its limit while this ran: nothing more may commit, its lock file being released.</summary>
    private void ThrowIfClosing()
    {
        if (Worker!.Closing && Worker.ClosedError is { } closed)
        {
            throw closed();
        }
    }
}

/// <summary>A write of a group must be undone on its own: the group restarts with a savepoint per write.</summary>
internal sealed class NeedsSavepointsException : Exception
{
}
