using Microsoft.Data.Sqlite;
using SQLitePCL;

namespace SqlitePool.Engine;

/// <summary>Work for one connection, run on its worker thread. <see cref="Execute"/> must not throw.</summary>
internal abstract class WorkItem
{
    /// <summary>SQLite's "interrupted" result code.</summary>
    internal const int Interrupted = raw.SQLITE_INTERRUPT;

    internal ConnectionWorker? Worker { get; set; }

    /// <summary>True for a stream's batch: its statement stays running after the item, so it is stopped by the
    /// progress handler alone (a native interrupt arriving as the batch ends would fail the next batch).</summary>
    internal bool LeavesStatementRunning { get; init; }

    /// <summary>For a read that borrowed the writer: how long it may run there (checked as on a caller's thread).</summary>
    internal TimeSpan MoveLimit { get; set; }

    /// <summary>For a read that borrowed the writer: called on the writer's thread, instead of answering, when the read
    /// was stopped only for running there (true: past <see cref="MoveLimit"/>; false: a lock held elsewhere). It gives
    /// the writer back and submits the read again, for a reader.</summary>
    internal Action<bool>? MoveTo { get; set; }

    /// <summary>True while the caller of the statement now running has cancelled.</summary>
    public abstract bool CancellationRequested { get; }

    public abstract void Execute(SqliteConnection connection);

    /// <summary>Runs the item on its caller's thread (<see cref="ConnectionWorker.RunOnCaller"/>). Must not throw.</summary>
    /// <returns>False when it was stopped before it answered, only for running there (its limit passed, or a lock
    /// held elsewhere): it is queued again as if it had not run, and runs from the start on the scheduler (or, with
    /// <see cref="MoveTo"/>, goes there).</returns>
    public virtual bool ExecuteOnCaller(SqliteConnection connection)
    {
        Execute(connection);
        return true;
    }

    /// <summary>The error one statement of an uncancellable item failed with, as its caller should see it.</summary>
    internal Exception StatementError(Exception error) => Translate(error, CancellationToken.None, out _);

    /// <summary>On the worker thread: the error of a failure, turned into a cancellation or deadline error where the
    /// interrupt was ours.</summary>
    protected Exception Translate(Exception error, CancellationToken cancellationToken, out bool cancelled)
    {
        var interrupted = error is SqlStatementException { ErrorCode: Interrupted };
        cancelled = interrupted && cancellationToken.IsCancellationRequested;
        return !interrupted ? error
            : Worker is { Closing: true, ClosedError: { } closed } ? closed()
            : Worker is { DeadlinePassed: true, TimeoutError: { } timeout } ? timeout()
            : error;
    }
}

/// <summary>A read waiting for a reader: told what to run after it (give the reader back), or failed before it starts.</summary>
internal interface IReadJob
{
    WorkItem Item { get; }

    /// <summary>A single query whose text only reads (SELECT, WITH, VALUES): it may run on a free writer. Cleared when
    /// it ran past its limit there (<see cref="WorkItem.MoveLimit"/>): from then on it waits for a reader.</summary>
    bool MayRunOnWriter { get; set; }

    /// <summary>Its caller's cancellation: it waits for a reader under it again when it moves off the writer.</summary>
    CancellationToken Token { get; }

    void Attach(Action? after);

    bool TryFail(Exception error);
}

/// <summary>A function of the connection whose result completes a task; optionally followed by
/// <c>after</c> on the worker thread (even when it was cancelled before it ran).</summary>
internal sealed class WorkItem<T> : WorkItem, IReadJob
{
    private const int Queued = 0, Running = 1, Done = 2;
    private readonly Func<SqliteConnection, T> _work;
    private readonly TaskCompletionSource<T> _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationToken _cancellationToken;
    private readonly CancellationTokenRegistration _registration;
    private int _state;
    private bool _cancelledAfterAttach;

    public WorkItem(Func<SqliteConnection, T> work, CancellationToken cancellationToken)
    {
        _work = work;
        _cancellationToken = cancellationToken;
        if (cancellationToken.CanBeCanceled)
        {
            _registration = cancellationToken.Register(static s => ((WorkItem<T>)s!).Cancel(), this);
        }
    }

    public Task<T> Task => _completion.Task;

    WorkItem IReadJob.Item => this;

    public bool MayRunOnWriter { get; set; }

    public CancellationToken Token => _cancellationToken;

    /// <summary>Runs on the worker after the item, whatever became of it.</summary>
    public Action? After { get; private set; }

    /// <summary>Sets <see cref="After"/> (which gives the connection back). From then on a cancellation before the
    /// item runs is reported after <see cref="After"/>, so the caller never sees its connection still taken.</summary>
    public void Attach(Action? after)
    {
        lock (this)
        {
            After = after;
            if (after is null && _cancelledAfterAttach)
            {
                // Cancelled while its connection was on the way back, and none comes now: nothing will run it.
                _completion.TrySetCanceled(_cancellationToken);
            }
        }
    }

    public override bool CancellationRequested => _cancellationToken.IsCancellationRequested;

    /// <summary>Fails the item if it has not started; false when it already has.</summary>
    public bool TryFail(Exception error)
    {
        lock (this)
        {
            if (_state != Queued)
            {
                // Cancelled while its connection was on the way: that connection never came.
                return _cancelledAfterAttach && _completion.TrySetCanceled(_cancellationToken);
            }

            _state = Done;
        }

        _registration.Unregister();
        _completion.TrySetException(error);
        return true;
    }

    public override void Execute(SqliteConnection connection) => Execute(connection, onCaller: false);

    public override bool ExecuteOnCaller(SqliteConnection connection) => Execute(connection, onCaller: true);

    private bool Execute(SqliteConnection connection, bool onCaller)
    {
        // The connection goes back (After) before the caller hears, so what it sees next counts it free.
        Action? answer = null;
        var (moved, limitPassed) = (false, false);
        try
        {
            answer = Run(connection, onCaller, out moved);
        }
        finally
        {
            limitPassed = Worker!.EndMove();
            if (!moved)
            {
                Settle(connection, answer);
            }
        }

        if (moved && MoveTo is { } move)
        {
            move(limitPassed);
        }

        return !moved;
    }

    private void Settle(SqliteConnection connection, Action? answer)
    {
        // On the writer, what this item committed is published before the writer can pass to another holder.
        if (ChangeTracker.Current is { } changes)
        {
            changes.Settle(connection.Handle!);
        }

        After?.Invoke();
        answer?.Invoke();
    }

    private Action? Run(SqliteConnection connection, bool onCaller, out bool moved)
    {
        moved = false;
        lock (this)
        {
            if (_state != Queued)
            {
                return _cancelledAfterAttach ? () => _completion.TrySetCanceled(_cancellationToken) : null;
            }

            _state = Running;
        }

        try
        {
            var result = _work(connection);
            Finish();
            return () => _completion.TrySetResult(result);
        }
        catch (SqlStatementException ex) when ((onCaller || MoveTo is not null) && Worker!.StoppedToMove(ex.ErrorCode) && Requeue())
        {
            // Stopped for running on its caller or the writer alone: the read left nothing behind and runs again.
            moved = true;
            return null;
        }
        catch (Exception ex)
        {
            Finish();
            var error = Translate(ex, _cancellationToken, out var cancelled);
            return cancelled ? () => _completion.TrySetCanceled(_cancellationToken) : () => _completion.TrySetException(error);
        }
    }

    // Back to queued, unless its caller cancelled meanwhile (then it ends as cancelled, here).
    private bool Requeue()
    {
        lock (this)
        {
            if (_state != Running || _cancellationToken.IsCancellationRequested)
            {
                return false;
            }

            _state = Queued;
            return true;
        }
    }

    private void Finish()
    {
        // Under the item's lock, so that Cancel() interrupts only while this item's statement runs.
        lock (this)
        {
            _state = Done;
        }

        _registration.Unregister();
    }

    private void Cancel()
    {
        lock (this)
        {
            switch (_state)
            {
                case Queued:
                    _state = Done;
                    if (After is null)
                    {
                        _completion.TrySetCanceled(_cancellationToken);
                    }
                    else
                    {
                        _cancelledAfterAttach = true;
                    }

                    return;
                case Running:
                    Worker?.Interrupt(this);
                    return;
            }
        }
    }
}
