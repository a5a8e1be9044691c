using System.Diagnostics;

namespace SqlitePool.Engine;

/// <summary>
/// The threads that run the SQLite work of every connection of every database in the process: a bounded set, whatever
/// the number of databases. A connection with work queued is ready; a thread takes the ready connection that waited
/// longest and drains its queue in one hand-off (<see cref="ConnectionWorker.RunSlice"/>), for at most
/// <see cref="SliceBudget"/> while others wait, so one connection's work still runs in order, one thing at a time.
/// </summary>
/// <remarks>
/// <para>Blocking is expected here (a long query, an fsync). When connections are ready and no thread has taken one for
/// <see cref="SqliteSchedulerOptions.StallLimit"/>, every thread is stuck: the scheduler adds one, up to
/// <see cref="SqliteSchedulerOptions.MaxThreads"/>, and a thread beyond <see cref="SqliteSchedulerOptions.MinThreads"/>
/// that finds nothing to do for <see cref="SqliteSchedulerOptions.IdleThreadTimeout"/> ends (the shape of tokio's
/// blocking pool and the .NET thread pool's starvation detection). The stall check runs only while connections wait and
/// no thread is idle, so an idle process pays nothing for it.</para>
/// <para>An idle thread waits on a monitor of its own, in a list by when it went idle, and work wakes the one that went
/// idle last (as the .NET thread pool's LIFO semaphore does): under a trickle of work the same few threads run it, and a
/// thread added for a burst reaches its idle timeout and ends. All other state is guarded by <c>_gate</c>.</para>
/// </remarks>
public sealed class SqliteScheduler : IDisposable
{
    private static readonly Lazy<SqliteScheduler> LazyShared = new(() => new SqliteScheduler(new SqliteSchedulerOptions()));

    private readonly object _gate = new();
    private readonly Queue<ConnectionWorker> _ready = new();
    private readonly LinkedList<IdleThread> _idleThreads = new(); // the last to go idle at the end, woken first

    private readonly SqliteSchedulerOptions _options;
    private readonly Timer _stallCheck;
    private int _threads;
    private int _waking; // threads taken off the idle list to run what is ready, not yet back under the gate
    private int _onDisk; // threads running a slice of a connection whose work waits on the disk (a writer's commits)
    private int _peakThreads;
    private long _threadsAdded;
    private long _progressAt; // the last take of a ready connection, or when the stall check was armed
    private bool _stallCheckArmed;
    private bool _disposed;

    /// <summary>Creates a scheduler; its threads start as work arrives.</summary>
    /// <exception cref="ArgumentException">The options are out of range.</exception>
    public SqliteScheduler(SqliteSchedulerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _options = options;
        _stallCheck = new Timer(static s => ((SqliteScheduler)s!).CheckStall(), this, Timeout.Infinite, Timeout.Infinite);
    }

    /// <summary>The process's scheduler with default settings, for pools opened without one.</summary>
    public static SqliteScheduler Shared => LazyShared.Value;

    /// <summary>The settings in force.</summary>
    public SqliteSchedulerOptions Options => _options;

    /// <summary>How long a thread runs one connection's queue while others are ready before it moves on.</summary>
    public static TimeSpan SliceBudget { get; } = TimeSpan.FromMilliseconds(2);

    /// <summary>The most threads that ran at once.</summary>
    public int PeakThreads => Volatile.Read(ref _peakThreads);

    /// <summary>The threads running now, busy or idle.</summary>
    internal int Threads
    {
        get
        {
            lock (_gate)
            {
                return _threads;
            }
        }
    }

    /// <summary>Threads added because every thread was stuck past the stall limit.</summary>
    public long ThreadsAddedForStalls => Interlocked.Read(ref _threadsAdded);

    /// <summary>Marks <paramref name="worker"/> ready; called by the worker once per hand-off, never twice at once.</summary>
    internal void Schedule(ConnectionWorker worker)
    {
        IdleThread? woken = null;
        lock (_gate)
        {
            _ready.Enqueue(worker);
            if (_idleThreads.Last is { } last)
            {
                // The thread that went idle last: under a trickle of work the same few threads run it, and the others,
                // never woken, reach their idle timeout and end.
                _idleThreads.RemoveLast();
                _waking++;
                woken = last.Value;
                woken.Woken = true;
            }
            else if (BelowMinimum() || (_disposed && _threads == 0))
            {
                StartThread();
            }

            // More ready than threads woken to take them (none was idle): unless a thread takes one within the stall
            // limit, every thread is stuck.
            if (_ready.Count > _waking && !_stallCheckArmed && !_disposed)
            {
                _stallCheckArmed = true;
                _progressAt = Math.Max(_progressAt, Stopwatch.GetTimestamp());
                var period = (long)Math.Max(1, _options.StallLimit.TotalMilliseconds / 2);
                _stallCheck.Change(period, period);
            }
        }

        woken?.Wake();
    }

    /// <summary>Lets the threads end once the work queued has run; work scheduled later still runs, on a thread that
    /// ends after it.</summary>
    public void Dispose()
    {
        IdleThread[] idle;
        lock (_gate)
        {
            _disposed = true;
            _stallCheck.Dispose();
            idle = [.. _idleThreads];
            _idleThreads.Clear();
            _waking += idle.Length;
            foreach (var thread in idle)
            {
                thread.Woken = true;
            }
        }

        foreach (var thread in idle)
        {
            thread.Wake();
        }
    }

    // Under _gate. Threads waiting on the disk (a commit's fsync) are not counted: a disk completes many fsyncs at once,
    // and commits of different databases must not wait for each other's, nor reads for them (up to MaxThreads).
    private bool BelowMinimum() => _threads - _onDisk < _options.MinThreads && _threads < _options.MaxThreads;

    // Under _gate.
    private void StartThread()
    {
        Debug.Assert(Monitor.IsEntered(_gate));
        _threads++;
        _peakThreads = Math.Max(_peakThreads, _threads);
        new Thread(Run) { IsBackground = true, Name = "sqlite" }.Start();
    }

    private void CheckStall()
    {
        lock (_gate)
        {
            if (_ready.Count == 0 || _disposed)
            {
                // Nothing waits: the check sleeps until a hand-off finds every thread busy again.
                _stallCheckArmed = false;
                if (!_disposed)
                {
                    _stallCheck.Change(Timeout.Infinite, Timeout.Infinite);
                }

                return;
            }

            if (_threads < _options.MaxThreads && Stopwatch.GetElapsedTime(_progressAt) >= _options.StallLimit)
            {
                _threadsAdded++;
                _progressAt = Stopwatch.GetTimestamp(); // the next thread is added only if this one gets stuck too
                StartThread();
            }
        }
    }

    // Under _gate, which it leaves while it waits: true once woken, false after IdleThreadTimeout with no work (then the
    // thread is off the idle list). A wake meant for an earlier wait can come late; the thread waits on to its timeout.
    private bool WaitIdle(IdleThread idle)
    {
        Debug.Assert(Monitor.IsEntered(_gate));
        idle.Woken = false;
        _idleThreads.AddLast(idle.Node);
        var since = Stopwatch.GetTimestamp();
        while (!idle.Woken)
        {
            var left = _options.IdleThreadTimeout - Stopwatch.GetElapsedTime(since);
            if (left <= TimeSpan.Zero)
            {
                _idleThreads.Remove(idle.Node);
                return false;
            }

            Monitor.Exit(_gate);
            try
            {
                idle.Wait(left);
            }
            finally
            {
                Monitor.Enter(_gate);
            }
        }

        _waking--;
        return true;
    }

    private void Run()
    {
        var idle = new IdleThread();
        ConnectionWorker? again = null; // a connection with more work after its slice: this thread's, unless others wait
        var onDisk = false;
        while (true)
        {
            ConnectionWorker worker;
            lock (_gate)
            {
                _onDisk -= onDisk ? 1 : 0;
                if (again is not null && _ready.Count > 0)
                {
                    _ready.Enqueue(again); // behind the others that were ready; this thread takes the first
                    again = null;
                }

                while (again is null && _ready.Count == 0)
                {
                    if (_disposed)
                    {
                        _threads--;
                        return;
                    }

                    if (!WaitIdle(idle) && _ready.Count == 0 && _threads > _options.MinThreads)
                    {
                        _threads--;
                        return;
                    }
                }

                // Alone, it runs on without a hand-off: waking an idle thread for it would only reset that thread's
                // idle time (it would find the connection taken back), and keep a thread added for a burst for ever.
                worker = again ?? _ready.Dequeue();
                again = null;
                _progressAt = Stopwatch.GetTimestamp();
                onDisk = worker.WaitsOnDisk;
                if (onDisk)
                {
                    _onDisk++;
                    if (_ready.Count > _waking + _idleThreads.Count && BelowMinimum())
                    {
                        StartThread(); // for what is ready behind it, as this thread is about to wait on the disk
                    }
                }
            }

            if (worker.RunSlice(SliceBudget))
            {
                again = worker; // more arrived while it ran
            }
        }
    }

    /// <summary>A thread of the scheduler waiting for work. <see cref="Woken"/> and the list <see cref="Node"/> is in are
    /// guarded by the scheduler's <c>_gate</c>; the wait itself is on this object's monitor, outside the gate.</summary>
    private sealed class IdleThread
    {
        private bool _signalled;

        public IdleThread() => Node = new(this);

        /// <summary>Taken off the idle list by whoever woke it (work, or the scheduler's disposal).</summary>
        public bool Woken { get; set; }

        public LinkedListNode<IdleThread> Node { get; }

        /// <summary>Waits until woken or <paramref name="timeout"/> passes; a wake that came before the wait is kept.</summary>
        public void Wait(TimeSpan timeout)
        {
            lock (this)
            {
                if (!_signalled)
                {
                    // Whole milliseconds, rounded up: rounded down, the last fraction would be a wait of 0 and the
                    // caller would spin through it.
                    Monitor.Wait(this, (int)Math.Min(int.MaxValue, Math.Ceiling(timeout.TotalMilliseconds)));
                }

                _signalled = false;
            }
        }

        public void Wake()
        {
            lock (this)
            {
                _signalled = true;
                Monitor.Pulse(this);
            }
        }
    }
}
