using Microsoft.Data.Sqlite;
using SQLitePCL;

namespace SqlitePool.Engine;

/// <summary>
/// One dedicated thread that owns one SQLite connection and runs the work queued for it in order.
/// Blocking SQLite calls therefore never run on a caller's thread or an Orleans turn.
/// </summary>
/// <remarks>The thread drains everything queued in one hand-off, so a busy connection goes from one item to
/// the next without sleeping. It keeps the connection's prepared-statement cache (<see cref="StatementCache.Current"/>).</remarks>
internal sealed class ConnectionWorker : IDisposable
{
    // Checked by SQLite every this many virtual-machine steps: a cancellation that lands before a statement
    // starts stepping (when sqlite3_interrupt would be a no-op) still stops it.
    private const int ProgressSteps = 1000;
    private readonly object _gate = new();
    private readonly Thread _thread;
    private readonly delegate_progress _progress;
    private List<WorkItem> _queue = [];
    private List<WorkItem> _draining = [];
    private bool _stopping;
    private bool _waiting;
    private SqliteConnection? _connection;
    private volatile WorkItem? _current;

    public ConnectionWorker(string name, TimeProvider? time = null)
    {
        Time = time ?? TimeProvider.System;
        _progress = static state => ((ConnectionWorker)state).OnProgress();
        _thread = new Thread(Loop) { IsBackground = true, Name = name };
        _thread.Start();
    }

    /// <summary>The clock statement deadlines are measured with.</summary>
    public TimeProvider Time { get; }

    /// <summary>Builds the error of a statement interrupted for running past its deadline.</summary>
    public Func<Exception>? TimeoutError { get; set; }

    /// <summary>The connection, once the first work item (the open) has set it.</summary>
    public SqliteConnection? ConnectionOrNull => _connection;

    /// <summary>The statement policy installed on the connection, once it is open.</summary>
    public StatementPolicy? Policy { get; set; }

    public void SetConnection(SqliteConnection connection)
    {
        _connection = connection;
        raw.sqlite3_progress_handler(connection.Handle, ProgressSteps, _progress, this);
    }

    /// <summary>Queues work for the connection. A cancelled item that has not started never runs; one that
    /// runs is interrupted with <c>sqlite3_interrupt</c>.</summary>
    public Task<T> RunAsync<T>(Func<SqliteConnection, T> work, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var item = new WorkItem<T>(work, cancellationToken);
        Post(item);
        return item.Task;
    }

    /// <summary>Queues an item; it runs after everything queued before it.</summary>
    /// <exception cref="ObjectDisposedException">The worker has stopped.</exception>
    public void Post(WorkItem item)
    {
        item.Worker = this;
        lock (_gate)
        {
            if (_stopping)
            {
                throw new ObjectDisposedException(_thread.Name, "The connection worker has stopped.");
            }

            _queue.Add(item);
            if (_waiting)
            {
                _waiting = false;
                Monitor.Pulse(_gate);
            }
        }
    }

    /// <summary>Stops the thread after the queued work has run.</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            _stopping = true;
            Monitor.Pulse(_gate);
        }
    }

    /// <summary>Interrupts the running item when it has run longer than <paramref name="limit"/>; it then fails
    /// with <see cref="TimeoutError"/>.</summary>
    public void InterruptIfOverdue(TimeSpan limit)
    {
        if (_current is { } item && Time.GetElapsedTime(item.StartedAt) > limit && !item.TimedOut)
        {
            item.TimedOut = true;
            Interrupt();
        }
    }

    internal void Interrupt()
    {
        if (_connection?.Handle is { } handle)
        {
            raw.sqlite3_interrupt(handle);
        }
    }

    private void Loop()
    {
        using var cache = new StatementCache();
        StatementCache.Current = cache;
        while (true)
        {
            lock (_gate)
            {
                while (_queue.Count == 0)
                {
                    if (_stopping)
                    {
                        return;
                    }

                    _waiting = true;
                    Monitor.Wait(_gate);
                }

                (_queue, _draining) = (_draining, _queue);
            }

            foreach (var item in _draining)
            {
                item.StartedAt = Time.GetTimestamp();
                _current = item;
                try
                {
                    item.Execute(_connection!);
                }
                catch (Exception)
                {
                    // Items answer their callers themselves; one that throws anyway must not stop the connection.
                }

                _current = null;
            }

            // On the writer with notifications on: what this burst committed becomes visible to subscribers.
            if (ChangeTracker.Current is { } changes && _connection?.Handle is { } db)
            {
                changes.Settle(db);
            }

            _draining.Clear();
        }
    }

    private int OnProgress() => _current is { } item && (item.TimedOut || item.CancellationRequested) ? 1 : 0;
}

/// <summary>Work for one connection, run on its worker thread. <see cref="Execute"/> must not throw.</summary>
internal abstract class WorkItem
{
    /// <summary>SQLite's "interrupted" result code.</summary>
    internal const int Interrupted = 9;

    internal ConnectionWorker? Worker { get; set; }

    /// <summary>When the worker started it (a <see cref="TimeProvider"/> timestamp).</summary>
    internal long StartedAt { get; set; }

    /// <summary>Set when it ran past its deadline and was interrupted.</summary>
    internal bool TimedOut { get; set; }

    /// <summary>True while the caller of the statement now running has cancelled.</summary>
    public abstract bool CancellationRequested { get; }

    public abstract void Execute(SqliteConnection connection);

    /// <summary>For an item that runs several statements: the next one starts its own deadline.</summary>
    internal void RestartDeadline()
    {
        TimedOut = false;
        StartedAt = Worker!.Time.GetTimestamp();
    }

    /// <summary>The error one statement of an uncancellable item failed with, as its caller should see it.</summary>
    internal Exception StatementError(Exception error) => Translate(error, CancellationToken.None, out _);

    /// <summary>The error of a failure, turned into a cancellation or deadline error where the interrupt was ours.</summary>
    protected Exception Translate(Exception error, CancellationToken cancellationToken, out bool cancelled)
    {
        var interrupted = error is SqlStatementException { ErrorCode: Interrupted };
        cancelled = interrupted && cancellationToken.IsCancellationRequested;
        return interrupted && TimedOut && Worker?.TimeoutError is { } timeout ? timeout() : error;
    }
}

/// <summary>A read waiting for a reader: told what to run after it (give the reader back), or failed before it starts.</summary>
internal interface IReadJob
{
    WorkItem Item { get; }

    void Attach(Action after);

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

    /// <summary>Runs on the worker after the item, whatever became of it.</summary>
    public Action? After { get; private set; }

    /// <summary>Sets <see cref="After"/> (which gives the connection back). From then on a cancellation before the
    /// item runs is reported after <see cref="After"/>, so the caller never sees its connection still taken.</summary>
    public void Attach(Action after)
    {
        lock (this)
        {
            After = after;
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

    public override void Execute(SqliteConnection connection)
    {
        // The connection goes back (After) before the caller hears, so what it sees next counts it free.
        Action? answer = null;
        try
        {
            answer = Run(connection);
        }
        finally
        {
            After?.Invoke();
            answer?.Invoke();
        }
    }

    private Action? Run(SqliteConnection connection)
    {
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
        catch (Exception ex)
        {
            Finish();
            var error = Translate(ex, _cancellationToken, out var cancelled);
            return cancelled ? () => _completion.TrySetCanceled(_cancellationToken) : () => _completion.TrySetException(error);
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
                    Worker?.Interrupt();
                    return;
            }
        }
    }
}
