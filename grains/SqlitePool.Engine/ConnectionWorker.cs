using System.Diagnostics;
using Microsoft.Data.Sqlite;
using SQLitePCL;

namespace SqlitePool.Engine;

/// <summary>
/// One SQLite connection and the work queued for it, run in order, one item at a time, on the threads of the
/// silo-wide <see cref="SqliteScheduler"/>. Blocking SQLite calls therefore never run on a caller's thread or an
/// Orleans turn, and no connection owns a thread.
/// </summary>
/// <remarks>
/// A connection with work is handed to the scheduler once; the thread that takes it drains everything queued in one
/// hand-off (<see cref="RunSlice"/>), so a busy connection goes from one item to the next without a hand-off each.
/// What belongs to the connection rather than to a thread lives here: its prepared statements
/// (<see cref="Statements"/>) and the writer's change tracker (<see cref="Changes"/>); <see cref="Current"/> names the
/// connection the current thread is running.
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

    [ThreadStatic]
    private static ConnectionWorker? t_current;

    private readonly object _gate = new();
    private readonly Lock _deadlineLock = new();
    private readonly string _name;
    private readonly SqliteScheduler _scheduler;
    private readonly delegate_progress _progress;
    private List<WorkItem> _queue = [];
    private List<WorkItem> _draining = [];
    private bool _stopping;
    private bool _scheduled;
    private bool _statementsDisposed;
    private SqliteConnection? _connection;

    // Written by the worker under _deadlineLock; read by the sweeper and by cancellations under it.
    private WorkItem? _current;
    private long _deadlineId;
    private long _deadlineStartedAt;
    private long _itemStartedAt;
    private volatile bool _deadlinePassed;
    private volatile bool _closing;

    // Set only while an item runs on its caller's thread (RunOnCaller), or a read that borrowed the writer runs: the
    // Stopwatch timestamp past which the progress handler stops its statement so that it moves, and whether it did;
    // and whether the busy timeout is off for it (on a caller's thread).
    private long _moveAt;
    private bool _moveLimitPassed;
    private bool _busyTimeoutOff;

    public ConnectionWorker(string name, TimeProvider? time = null, SqliteScheduler? scheduler = null)
    {
        _name = name;
        Time = time ?? TimeProvider.System;
        _scheduler = scheduler ?? SqliteScheduler.Shared;
        _progress = static state => ((ConnectionWorker)state).OnProgress();
    }

    /// <summary>The connection whose work the current thread is running, or null outside a work item.</summary>
    public static ConnectionWorker? Current => t_current;

    /// <summary>The connection's prepared statements; used only by the work running on it.</summary>
    public StatementCache Statements { get; } = new();

    /// <summary>The writer's change tracker while notifications are on; set and used by the work running on it.</summary>
    public ChangeTracker? Changes { get; set; }

    /// <summary>True for a writer: its work waits on the disk (each commit's fsync), so the scheduler does not count the
    /// thread running it toward its minimum.</summary>
    public bool WaitsOnDisk { get; init; }

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

    /// <summary>The connection's busy timeout in ms (SQLite's wait for a lock another connection holds), when the
    /// pool set one. A run on a caller's thread waits for none: it restores this after.</summary>
    public int BusyTimeoutMs { get; init; }

    /// <summary>On the running thread: true when an item run on its caller's thread, or a read on the writer it
    /// borrowed, failed with <paramref name="errorCode"/> only because it ran there (stopped at its limit, or a lock it
    /// would have waited for on a caller's thread), not cancelled, timed out or closing: it is to run again elsewhere.</summary>
    public bool StoppedToMove(int errorCode) =>
        !_deadlinePassed && !_closing && ((errorCode == raw.SQLITE_INTERRUPT && _moveLimitPassed) || (errorCode == raw.SQLITE_BUSY && _busyTimeoutOff));

    /// <summary>On the running thread, as an item ends and before it gives the connection back: its deadline and
    /// limit end, and the busy timeout it ran without is restored, so the connection's next holder runs under neither.</summary>
    /// <returns>True when the item was stopped at its limit (see <see cref="StoppedToMove"/>).</returns>
    public bool EndMove()
    {
        End(); // its deadline too: no interrupt judged on it reaches the next holder
        _moveAt = 0;
        if (_busyTimeoutOff)
        {
            raw.sqlite3_busy_timeout(_connection!.Handle, BusyTimeoutMs);
            _busyTimeoutOff = false;
        }

        return _moveLimitPassed;
    }

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
                throw new ObjectDisposedException(_name, "The connection worker has stopped.");
            }

            _queue.Add(item);
            if (_scheduled)
            {
                return; // the thread running it, or the scheduler's queue, has it already
            }

            _scheduled = true;
        }

        _scheduler.Schedule(this);
    }

    /// <summary>
    /// Runs <paramref name="item"/> on the calling thread when the connection is idle (nothing queued or running), as
    /// a slice of one item: in order with the connection's other work, under its deadline, interruptible by
    /// cancellation. A statement still running after <paramref name="limit"/> (checked every 1,000 steps of SQLite's
    /// virtual machine), or one that finds a lock held elsewhere (it waits for none here), is stopped and the item
    /// goes to the scheduler instead, so a caller's thread is held about that long at most, a single slow step (a
    /// page read from disk) aside; the item then runs again from the start: only reads, which leave nothing
    /// behind, may come this way.
    /// </summary>
    /// <returns>What became of it: <see cref="CallerRun.Busy"/> when the connection was busy (nothing ran, and the
    /// caller posts the item as usual).</returns>
    public CallerRun RunOnCaller(WorkItem item, TimeSpan limit)
    {
        Debug.Assert(t_current is null, "An item runs on its caller only outside SQLite work.");
        lock (_gate)
        {
            if (_stopping || _scheduled)
            {
                return CallerRun.Busy;
            }

            _scheduled = true; // the connection is this thread's until the item ends, as a scheduler slice's
        }

        item.Worker = this;
        t_current = this;
        _moveAt = MoveAt(limit);
        var movesAway = item.MoveTo is not null; // a borrowed writer's read: if stopped, it goes to a reader itself
        var (moved, limitPassed) = (false, false);
        var handle = _connection!.Handle!;
        try
        {
            // A lock held elsewhere (a WAL recovery, another process) is waited for on the scheduler, not here.
            if (BusyTimeoutMs > 0)
            {
                raw.sqlite3_busy_timeout(handle, 0);
                _busyTimeoutOff = true;
            }

            Begin(item);
            try
            {
                moved = !item.ExecuteOnCaller(_connection!);
            }
            catch (Exception)
            {
                // As in a slice: the item answers its caller itself.
            }

            End();
        }
        finally
        {
            if (_busyTimeoutOff)
            {
                raw.sqlite3_busy_timeout(handle, BusyTimeoutMs);
            }

            limitPassed = _moveLimitPassed;
            (_moveAt, _moveLimitPassed, _busyTimeoutOff) = (0, false, false);
            t_current = null;
            StatementRunner.TrimRowBuffer(); // a caller's thread keeps no large buffer of SQLite's rows
        }

        bool more, stopped;
        lock (_gate)
        {
            if (moved && !movesAway)
            {
                _queue.Insert(0, item); // first, as it came first (a borrowed writer's read went to a reader instead)
            }

            more = _queue.Count > 0;
            _scheduled = more;
            stopped = _stopping && !more;
        }

        if (more)
        {
            _scheduler.Schedule(this);
        }
        else if (stopped)
        {
            DisposeStatements();
        }

        return !moved ? CallerRun.Answered : limitPassed ? CallerRun.Moved : CallerRun.MovedForLock;
    }

    /// <summary>Refuses later work; what is queued still runs, and the prepared statements are finalized after it.</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            _stopping = true;
            if (_scheduled)
            {
                return; // the slice running or waiting finalizes them at its end
            }
        }

        DisposeStatements();
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

    /// <summary>On a scheduler thread: runs what is queued, and what arrives meanwhile, until the queue is empty or
    /// <paramref name="budget"/> has passed.</summary>
    /// <returns>True when work is left: the connection stays scheduled and goes back to the scheduler's queue.</returns>
    internal bool RunSlice(TimeSpan budget)
    {
        var started = Stopwatch.GetTimestamp();
        t_current = this;
        try
        {
            while (true)
            {
                lock (_gate)
                {
                    if (_queue.Count == 0)
                    {
                        _scheduled = false;
                        break;
                    }

                    if (Stopwatch.GetElapsedTime(started) > budget)
                    {
                        return true;
                    }

                    (_queue, _draining) = (_draining, _queue);
                }

                foreach (var item in _draining)
                {
                    Begin(item);
                    _moveAt = item.MoveTo is null ? 0 : MoveAt(item.MoveLimit);
                    try
                    {
                        item.Execute(_connection!);
                    }
                    catch (Exception)
                    {
                        // Items answer their callers themselves; one that throws anyway must not stop the connection.
                    }

                    (_moveAt, _moveLimitPassed) = (0, false);
                    End();
                }

                _draining.Clear();
            }
        }
        finally
        {
            t_current = null;
        }

        StopIfIdle();
        return false;
    }

    // After a run that left the connection unscheduled: a worker stopped meanwhile finalizes its statements.
    private void StopIfIdle()
    {
        bool stopped;
        lock (_gate)
        {
            stopped = _stopping && !_scheduled;
        }

        if (stopped)
        {
            DisposeStatements();
        }
    }

    // Once nothing runs here any more: after Dispose, by whoever sees the queue empty last.
    private void DisposeStatements()
    {
        lock (_gate)
        {
            if (_statementsDisposed)
            {
                return;
            }

            _statementsDisposed = true;
        }

        Statements.Dispose();
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

    private static long MoveAt(TimeSpan limit) => Stopwatch.GetTimestamp() + Math.Max(1, (long)(limit.TotalSeconds * Stopwatch.Frequency));

    // The item's deadline, cancellation and move limit stop only the item's own statements: a silo-local lease's
    // holder runs its statements on its own thread, and may do so as soon as an item has given the connection back.
    private int OnProgress() => _closing || (t_current == this && (_deadlinePassed || _current?.CancellationRequested == true || MoveLimitReached())) ? 1 : 0;

    private bool MoveLimitReached() => _moveAt != 0 && Stopwatch.GetTimestamp() > _moveAt && (_moveLimitPassed = true);
}

/// <summary>What <see cref="ConnectionWorker.RunOnCaller"/> did with an item.</summary>
internal enum CallerRun
{
    /// <summary>The connection was busy: nothing ran.</summary>
    Busy,

    /// <summary>It ran on the caller's thread and answered.</summary>
    Answered,

    /// <summary>It passed the caller's limit and was queued to run again on the scheduler.</summary>
    Moved,

    /// <summary>It found a lock held elsewhere and was queued to run again on the scheduler, which waits for it.</summary>
    MovedForLock,
}
