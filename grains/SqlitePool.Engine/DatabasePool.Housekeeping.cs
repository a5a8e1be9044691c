using SqlitePool.Diagnostics;
using SqlitePool.Hosting;

namespace SqlitePool.Engine;

/// <summary>
/// Housekeeping, done on the visits of the process's one <see cref="PoolSweeper"/>: waiters, leases and statements
/// past their limits; the checkpoint governor; readers idle past <see cref="DatabaseOptions.ReaderIdleTimeout"/> closed;
/// and the whole pool closed once nobody has used it for <see cref="DatabaseOptions.DatabaseIdleTimeout"/>.
/// </summary>
/// <remarks>
/// While anything is in flight (a connection taken, a waiter, a lease, a cursor, a checkpoint, a close) the pool is
/// visited every <see cref="_sweepPeriod"/>; otherwise only when its next idle deadline comes. The switch to frequent
/// visits happens under the arbiter's lock where a connection is taken or a waiter queued (<see cref="MarkUsed"/>), and the
/// visit reads the state under the same lock, so a use is never missed between the two.
/// </remarks>
public sealed partial class DatabasePool
{
    private readonly PoolSweeper _sweeper;
    private readonly TimeSpan _sweepPeriod;
    private bool _sweepSoon;
    private volatile bool _usedSinceSweep;
    private volatile bool _touched = true; // a pool just opened is about to be used: not the first to go
    private volatile bool _retired;
    private DateTimeOffset _lastUsedAt;
    private DateTimeOffset _lastGovernedAt;
    private Task? _governing;

    /// <summary>The checkpoint the governor runs now, if any (tests wait for it while they move a fake clock).</summary>
    internal Task Governing => _governing ?? Task.CompletedTask;

    /// <summary>Under the sweeper's lock: when the planned visit that counts is (a clock timestamp), or MaxValue when none.</summary>
    internal long SweepAt { get; set; } = long.MaxValue;

    /// <summary>Under the arbiter's lock: a caller holds or waits for something other than the writer (a reader, a
    /// lease, a cursor, a place in a queue). With the writer taken as well, the pool is in use.</summary>
    private bool CallersBesidesWriter => _arbiter.ReadersTakenOrWaiters || !_leases.IsEmpty || !_cursors.IsEmpty;

    private static TimeSpan SweepPeriodFor(DatabaseOptions options)
    {
        var shortest = new[] { options.LeaseIdleTimeout, options.MaxLeaseHoldTime, options.StatementTimeout, options.AcquireTimeout, options.CloseTimeout }.Min().Ticks;
        return TimeSpan.FromTicks(Math.Clamp(shortest / 4, TimeSpan.FromMilliseconds(20).Ticks, TimeSpan.FromSeconds(5).Ticks));
    }

    /// <summary>Under the arbiter's lock, where a connection is taken or a waiter queued: the pool is in use, and visited
    /// every sweep period from now until it is quiet again.</summary>
    internal void MarkUsed()
    {
        _usedSinceSweep = _touched = true;
        if (!_sweepSoon)
        {
            _sweepSoon = true;
            _sweeper.Schedule(this, Now + _sweepPeriod);
        }
    }

    /// <summary>Under the registry's clock lock: the pool's place in its eviction clock, while open.</summary>
    internal LinkedListNode<DatabasePool>? ClockEntry { get; set; }

    /// <summary>Where the files the pool holds are counted (set by the registry); null counts nothing.</summary>
    internal OpenFileBudget? FileBudget { get; set; }

    /// <summary>True once the pool closed by itself, idle or to make room for other databases, rather than by a caller
    /// or the host: a call it refused with <see cref="DatabaseClosedException"/> never ran, and may go to the pool that
    /// opens next.</summary>
    public bool Retired => _retired;

    /// <summary>The files the pool holds: <see cref="OpenFileBudget.PerDatabase"/> and <see cref="OpenFileBudget.PerReader"/>
    /// for each reader.</summary>
    internal long OpenFiles
    {
        get
        {
            lock (_arbiter.Gate)
            {
                return _arbiter.FilesHeld;
            }
        }
    }

    /// <summary>For the registry's clock sweep: whether the pool was used since the last look, clearing the mark.</summary>
    internal bool TakeTouched()
    {
        var touched = _touched;
        _touched = false;
        return touched;
    }

    /// <summary>Closes the pool if nobody is using it now (no connection taken, no waiter, lease, cursor or change
    /// subscription), to give its files to another database; the next call opens it again.</summary>
    /// <returns>The close, or null when the pool is in use or already closed.</returns>
    internal Task? RetireIfQuiet()
    {
        lock (_arbiter.Gate)
        {
            _arbiter.UnparkReader();
            if (IsClosed || _arbiter.WriterBusy || CallersBesidesWriter || _changes is not null)
            {
                return null;
            }

            // Closed under the same lock that found it quiet: a call that comes after is refused at its entry (and goes to
            // the next pool); none can slip in between and be cut off by the close.
            _retired = true;
            return CloseAsync();
        }
    }

    /// <summary>For an owner that lets go of the pool while other callers may still reach it (silo-local calls): closes
    /// it if nobody uses it, as if it had closed by itself; a pool in use stays open and closes by itself once idle.
    /// A pool that tracks changes closes at once: nobody would take its changes.</summary>
    /// <returns>The close, or null when the pool stays open.</returns>
    internal Task? CloseUnlessInUse()
    {
        lock (_arbiter.Gate)
        {
            _arbiter.UnparkReader();
            var inUse = _arbiter.WriterBusy || CallersBesidesWriter;
            if (!IsClosed && inUse && _changes is null)
            {
                return null;
            }

            // Found quiet under the lock that closes it: a call that comes after is refused at its entry (see RetireIfQuiet).
            _retired |= !IsClosed && !inUse;
            return CloseAsync();
        }
    }

    /// <summary>A visit of the sweeper: does what is due and plans the next visit, which it always does first.</summary>
    internal void Sweep()
    {
        var now = Now;
        DateTimeOffset? next = now + _sweepPeriod;
        try
        {
            _arbiter.TimeOutWaiters();
            ExpireIdleLeases();
            _writer.Worker.InterruptIfOverdue(_options.StatementTimeout);
            PooledConnection[] readers;
            lock (_arbiter.Gate)
            {
                readers = _arbiter.Readers;
            }

            foreach (var reader in readers)
            {
                reader.Worker.InterruptIfOverdue(_options.StatementTimeout);
            }

            next = Tidy(now);
        }
        finally
        {
            if (next is { } at)
            {
                _sweeper.Schedule(this, at);
            }
        }
    }

    /// <summary>Governs the log, closes idle readers, and closes the pool when it has been idle long enough.</summary>
    /// <returns>When to visit next, or null once the pool has closed.</returns>
    private DateTimeOffset? Tidy(DateTimeOffset now)
    {
        var walPending = !IsClosed && (_wal.FramesToCheckpoint > 0 || WalBytes() > 0);
        List<PooledConnection> idleReaders = [];
        bool busy, closeIdle;
        lock (_arbiter.Gate)
        {
            if (_closeTask is { IsCompleted: true })
            {
                return null;
            }

            _arbiter.UnparkReader();
            var governing = _governing is { IsCompleted: false };
            var inUse = (_arbiter.WriterBusy && !governing) || CallersBesidesWriter; // the governor's checkpoint is no use
            busy = IsClosed || inUse || _arbiter.WriterBusy || governing;
            if (inUse || _usedSinceSweep)
            {
                _lastUsedAt = now;
            }

            _usedSinceSweep = false;

            // An idle database closes with its readers (before its writer, by the close); otherwise idle readers close
            // alone. Readers never checkpoint as they close (NO_CKPT_ON_CLOSE), whichever connection closes last.
            closeIdle = !busy && _changes is null && _options.DatabaseIdleTimeout != Timeout.InfiniteTimeSpan
                && now - _lastUsedAt >= _options.DatabaseIdleTimeout;
            if (!closeIdle && !IsClosed)
            {
                _arbiter.CollectIdleReaders(now, idleReaders);
            }

            _sweepSoon = busy;
            if (closeIdle)
            {
                // Under the lock that found it idle (see RetireIfQuiet).
                _retired = true;
                _ = CloseAsync();
            }
        }

        foreach (var reader in idleReaders)
        {
            _ = CloseConnectionAsync(reader.Worker, checkpoint: false);
        }

        if (closeIdle)
        {
            PoolLog.ClosedIdle(Logger, Database, _options.DatabaseIdleTimeout);
            return now + _sweepPeriod; // statement timeouts keep running while the close does
        }

        if (walPending && _governing is not { IsCompleted: false } && now - _lastGovernedAt >= _options.CheckpointInterval)
        {
            _lastGovernedAt = now;
            _governing = GovernWalAsync();
        }

        if (busy)
        {
            return now + _sweepPeriod;
        }

        // Quiet: the next visit is the first idle deadline.
        var next = _options.DatabaseIdleTimeout == Timeout.InfiniteTimeSpan ? DateTimeOffset.MaxValue : After(_lastUsedAt, _options.DatabaseIdleTimeout);
        if (walPending)
        {
            next = Min(next, After(_lastGovernedAt, _options.CheckpointInterval));
        }

        lock (_arbiter.Gate)
        {
            foreach (var reader in _arbiter.IdleReaders)
            {
                next = Min(next, After(reader.IdleSince, _options.ReaderIdleTimeout));
            }
        }

        return next == DateTimeOffset.MaxValue ? null : Max(next, now + _sweepPeriod);
    }

    private static DateTimeOffset Min(DateTimeOffset a, DateTimeOffset b) => a < b ? a : b;

    /// <summary><paramref name="time"/> + <paramref name="span"/>, or the end of time rather than past it.</summary>
    private static DateTimeOffset After(DateTimeOffset time, TimeSpan span) =>
        span >= DateTimeOffset.MaxValue - time ? DateTimeOffset.MaxValue : time + span;

    private static DateTimeOffset Max(DateTimeOffset a, DateTimeOffset b) => a > b ? a : b;
}
