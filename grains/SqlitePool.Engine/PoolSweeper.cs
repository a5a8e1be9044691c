using System.Runtime.CompilerServices;

namespace SqlitePool.Engine;

/// <summary>
/// The one housekeeping timer of every pool on a clock (so, in a silo, of every database): lease expiry, waiter and
/// statement timeouts, checkpoints, idle readers and idle databases. Each pool asks for a visit at the time something
/// of it falls due (<see cref="Schedule"/>); the timer wakes only for the earliest, and visits only the pools due then.
/// A database with nothing to do is visited once per idle timeout, and an idle process not at all.
/// </summary>
/// <remarks>Visits are planned on the clock's monotonic timestamps, so a wall clock stepped back (NTP, a resumed VM)
/// delays none. Planned visits are kept in a queue by time. A pool asked to come earlier gets a second entry; the later
/// one is skipped when it comes up (<see cref="DatabasePool.SweepAt"/> names the entry that counts). Everything here is
/// guarded by <c>_gate</c>; a pool is visited outside it, and plans its next visit itself.</remarks>
internal sealed class PoolSweeper
{
    // A timer is set at most this far ahead (ITimer takes under 50 days); a later visit is reached in several.
    private static readonly TimeSpan LongestWait = TimeSpan.FromDays(1);
    private static readonly ConditionalWeakTable<TimeProvider, PoolSweeper> Sweepers = [];

    private readonly object _gate = new();
    private readonly TimeProvider _time;
    private readonly PriorityQueue<DatabasePool, long> _planned = new();
    private readonly ITimer _timer;
    private long _timerAt = long.MaxValue;
    private bool _visiting;

    private PoolSweeper(TimeProvider time)
    {
        _time = time;
        _timer = time.CreateTimer(static s => ((PoolSweeper)s!).Visit(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
    }

    /// <summary>The sweeper of the pools that keep time with <paramref name="time"/>.</summary>
    public static PoolSweeper For(TimeProvider time) => Sweepers.GetValue(time, static t => new PoolSweeper(t));

    /// <summary>Visits made so far (for tests and statistics).</summary>
    public long Visits { get; private set; }

    /// <summary>Plans a visit of <paramref name="pool"/> at <paramref name="at"/> (read against the wall clock now, then
    /// kept as a delay); an earlier one already planned stands.</summary>
    public void Schedule(DatabasePool pool, DateTimeOffset at)
    {
        var delay = at - _time.GetUtcNow();
        var due = _time.GetTimestamp() + ToTimestamp(delay < TimeSpan.Zero ? TimeSpan.Zero : delay);
        lock (_gate)
        {
            if (due >= pool.SweepAt)
            {
                return;
            }

            pool.SweepAt = due;
            _planned.Enqueue(pool, due);
            if (!_visiting && due < _timerAt)
            {
                Arm(due);
            }
        }
    }

    private long ToTimestamp(TimeSpan delay)
    {
        var seconds = Math.Min(delay.TotalSeconds, TimeSpan.FromDays(365 * 100).TotalSeconds);
        return (long)(seconds * _time.TimestampFrequency);
    }

    // Under _gate.
    private void Arm(long due)
    {
        var delay = _time.GetElapsedTime(_time.GetTimestamp(), due);
        delay = delay < TimeSpan.Zero ? TimeSpan.Zero : delay > LongestWait ? LongestWait : delay;
        _timerAt = due;
        _timer.Change(delay, Timeout.InfiniteTimeSpan);
    }

    private void Visit()
    {
        List<DatabasePool> due = [];
        lock (_gate)
        {
            _visiting = true;
            _timerAt = long.MaxValue;
            var now = _time.GetTimestamp();
            while (_planned.TryPeek(out var pool, out var at) && at <= now)
            {
                _planned.Dequeue();
                if (pool.SweepAt == at)
                {
                    pool.SweepAt = long.MaxValue;
                    due.Add(pool);
                }
            }

            Visits += due.Count;
        }

        try
        {
            foreach (var pool in due)
            {
                try
                {
                    pool.Sweep();
                }
                catch (Exception)
                {
                    // A visit plans the pool's next one before anything in it can fail; one pool's failure is not the others'.
                }
            }
        }
        finally
        {
            lock (_gate)
            {
                _visiting = false;
                while (_planned.TryPeek(out var pool, out var at) && pool.SweepAt != at)
                {
                    _planned.Dequeue(); // replaced by an earlier visit, already made
                }

                if (_planned.TryPeek(out _, out var next))
                {
                    Arm(next);
                }
            }
        }
    }
}
