using Microsoft.Data.Sqlite;
using SQLitePCL;

namespace SqlitePool.Engine;

/// <summary>
/// One dedicated thread that owns one SQLite connection and runs the work queued for it in order.
/// Blocking SQLite calls therefore never run on a caller's thread or an Orleans turn.
/// </summary>
/// <remarks>
/// The thread drains everything queued in one hand-off, so a busy connection goes from one item to the next without
/// sleeping. It keeps the connection's prepared-statement cache (<see cref="StatementCache.Current"/>).
/// <para>
/// Every statement runs under a deadline: one per item, or one per statement of an item that runs several
/// (<see cref="RestartDeadline"/>). A deadline has an id; the sweeper and cancellations interrupt a statement only
/// while the deadline they judged is still the current one, checked under <c>_deadlineLock</c>, which the worker also
/// takes to end a deadline. So an interrupt meant for a statement that has just ended never reaches the next one.
/// </para>
/// </remarks>
internal sealed class ConnectionWorker : IDisposable
{
    // Checked by SQLite every this many virtual-machine steps: a deadline or cancellation that lands before a statement
    // starts stepping (when sqlite3_interrupt would be a no-op) still stops it, and statements that keep another
    // statement of the connection running (a stream's) are stopped without sqlite3_interrupt at all.
    private const int ProgressSteps = 1000;
    private readonly object _gate = new();
    private readonly Lock _deadlineLock = new();
    private readonly Thread _thread;
    private readonly delegate_progress _progress;
    private List<WorkItem> _queue = [];
    private List<WorkItem> _draining = [];
    private bool _stopping;
    private bool _waiting;
    private SqliteConnection? _connection;

    // Written by the worker under _deadlineLock; read by the sweeper and by cancellations under it.
    private WorkItem? _current;
    private long _deadlineId;
    private long _deadlineStartedAt;
    private long _itemStartedAt;
    private volatile bool _deadlinePassed;
    private volatile bool _closing;

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

    /// <summary>Builds the error of a statement stopped because its pool closed past <c>CloseTimeout</c>.</summary>
    public Func<Exception>? ClosedError { get; set; }

    /// <summary>True once the pool closed past its limit: every statement still to run here is stopped at once.</summary>
    public bool Closing => _closing;

    /// <summary>The connection, once the first work item (the open) has set it.</summary>
    public SqliteConnection? ConnectionOrNull => _connection;

    /// <summary>The statement policy installed on the connection, once it is open.</summary>
    public StatementPolicy? Policy { get; set; }

    /// <summary>On the worker thread: true once the statement now running has passed its deadline.</summary>
    public bool DeadlinePassed => _deadlinePassed;

    /// <summary>When the item now running started (a <see cref="TimeProvider"/> timestamp), or null when idle: a read
    /// in flight holds a snapshot.</summary>
    public long? RunningSince
    {
        get
        {
            lock (_deadlineLock)
            {
                return _current is null ? null : _itemStartedAt;
            }
        }
    }

    public void SetConnection(SqliteConnection connection)
    {
        _connection = connection;
        raw.sqlite3_progress_handler(connection.Handle, ProgressSteps, _progress, this);
    }

    /// <summary>Queues work for the connection. A cancelled item that has not started never runs; one that
    /// runs is interrupted.</summary>
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

    /// <summary>On the worker thread, for an item that runs several statements: the next one gets a deadline of its own.</summary>
    /// <returns>When the new deadline started.</returns>
    public long RestartDeadline()
    {
        var now = Time.GetTimestamp();
        lock (_deadlineLock)
        {
            _deadlineId++;
            _deadlineStartedAt = now;
            _deadlinePassed = false;
        }

        return now;
    }

    /// <summary>Interrupts the running statement when it has run longer than <paramref name="limit"/>; its item then
    /// fails with <see cref="TimeoutError"/>.</summary>
    public void InterruptIfOverdue(TimeSpan limit)
    {
        long id, startedAt;
        lock (_deadlineLock)
        {
            if (_current is null || _deadlinePassed)
            {
                return;
            }

            (id, startedAt) = (_deadlineId, _deadlineStartedAt);
        }

        // The clock is read outside the lock; the statement judged may end meanwhile, which the id tells.
        if (Time.GetElapsedTime(startedAt) <= limit)
        {
            return;
        }

        lock (_deadlineLock)
        {
            if (_deadlineId == id && _current is { } item)
            {
                _deadlinePassed = true;
                InterruptNatively(item);
            }
        }
    }

    /// <summary>Interrupts <paramref name="item"/>'s statement if it is running now (its caller cancelled).</summary>
    public void Interrupt(WorkItem item)
    {
        lock (_deadlineLock)
        {
            if (_current == item)
            {
                InterruptNatively(item);
            }
        }
    }

    /// <summary>The pool closed past its limit: interrupts what runs now, and every later statement here stops at its
    /// first progress check (its item fails with <see cref="ClosedError"/>).</summary>
    public void StopEverything()
    {
        lock (_deadlineLock)
        {
            _closing = true;
            if (_current is { } item)
            {
                InterruptNatively(item);
            }
        }
    }

    // Under _deadlineLock, so the deadline cannot end meanwhile. If the statement finished its last step just before,
    // SQLite clears the flag when the connection next prepares or starts a statement with none other running; an item
    // that leaves a statement running (a stream's next batch) is stopped by the progress handler alone.
    private void InterruptNatively(WorkItem item)
    {
        try
        {
            if (!item.LeavesStatementRunning && _connection?.Handle is { } handle)
            {
                raw.sqlite3_interrupt(handle);
            }
        }
        catch (ObjectDisposedException)
        {
            // The item was the connection's close.
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
                Begin(item);
                try
                {
                    item.Execute(_connection!);
                }
                catch (Exception)
                {
                    // Items answer their callers themselves; one that throws anyway must not stop the connection.
                }

                End();
            }

            _draining.Clear();
        }
    }

    private void Begin(WorkItem item)
    {
        var now = Time.GetTimestamp();
        lock (_deadlineLock)
        {
            _current = item;
            _deadlineId++;
            _itemStartedAt = _deadlineStartedAt = now;
            _deadlinePassed = false;
        }
    }

    private void End()
    {
        lock (_deadlineLock)
        {
            _current = null;
            _deadlineId++;
            _deadlinePassed = false;
        }
    }

    private int OnProgress() => _deadlinePassed || _closing || _current?.CancellationRequested == true ? 1 : 0;
}
