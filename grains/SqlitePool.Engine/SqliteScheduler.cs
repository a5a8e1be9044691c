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
/// <para>All state is guarded by <c>_gate</c>, whose monitor idle threads wait on.</para>
/// </remarks>
public sealed class SqliteScheduler : IDisposable
{
    private static readonly Lazy<SqliteScheduler> LazyShared = new(() => new SqliteScheduler(new SqliteSchedulerOptions()));

    private readonly object _gate = new();
    private readonly Queue<ConnectionWorker> _ready = new();

    private readonly SqliteSchedulerOptions _options;
    private readonly Timer _stallCheck;
    private int _threads;
    private int _idle;
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

    /// <summary>Threads added because every thread was stuck past the stall limit.</summary>
    public long ThreadsAddedForStalls => Interlocked.Read(ref _threadsAdded);

    /// <summary>Marks <paramref name="worker"/> ready; called by the worker once per hand-off, never twice at once.</summary>
    internal void Schedule(ConnectionWorker worker)
    {
        lock (_gate)
        {
            _ready.Enqueue(worker);
            if (_idle > 0)
            {
                Monitor.Pulse(_gate);
            }
            else if (BelowMinimum() || (_disposed && _threads == 0))
            {
                StartThread();
            }

            // More ready than idle threads to take them (a pulse meant for a thread already awake is lost): unless a
            // thread takes one within the stall limit, every thread is stuck.
            if (_ready.Count > _idle && !_stallCheckArmed && !_disposed)
            {
                _stallCheckArmed = true;
                _progressAt = Math.Max(_progressAt, Stopwatch.GetTimestamp());
                var period = (long)Math.Max(1, _options.StallLimit.TotalMilliseconds / 2);
                _stallCheck.Change(period, period);
            }
        }
    }

    /// <summary>Lets the threads end once the work queued has run; work scheduled later still runs, on a thread that
    /// ends after it.</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            _disposed = true;
            _stallCheck.Dispose();
            Monitor.PulseAll(_gate);
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

    private void Run()
    {
        while (true)
        {
            ConnectionWorker worker;
            lock (_gate)
            {
                while (_ready.Count == 0)
                {
                    if (_disposed)
                    {
                        _threads--;
                        return;
                    }

                    _idle++;
                    var woken = Monitor.Wait(_gate, _options.IdleThreadTimeout);
                    _idle--;
                    if (!woken && _ready.Count == 0 && _threads > _options.MinThreads)
                    {
                        _threads--;
                        return;
                    }
                }

                worker = _ready.Dequeue();
                _progressAt = Stopwatch.GetTimestamp();
                if (worker.WaitsOnDisk)
                {
                    _onDisk++;
                    if (_ready.Count > _idle && BelowMinimum())
                    {
                        StartThread(); // for what is ready behind it, as this thread is about to wait on the disk
                    }
                }
            }

            bool more;
            try
            {
                more = worker.RunSlice(SliceBudget);
            }
            finally
            {
                if (worker.WaitsOnDisk)
                {
                    lock (_gate)
                    {
                        _onDisk--;
                    }
                }
            }

            if (more)
            {
                // More arrived while it ran: behind the others that were ready.
                Schedule(worker);
            }
        }
    }
}
