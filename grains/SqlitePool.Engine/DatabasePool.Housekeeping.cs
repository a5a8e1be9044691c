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
/// visits happens under <c>_sync</c> where a connection is taken or a waiter queued (<see cref="MarkUsed"/>), and the
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

    /// <summary>Under <c>_sync</c>: a caller holds or waits for something other than the writer (a reader, a lease, a
    /// cursor, a place in a queue). With the writer taken as well, the pool is in use.</summary>
    private bool CallersBesidesWriter =>
        BusyReaders > 0 || _writerWaiters.Count + _readerWaiters.Count + _exclusiveWaiters.Count > 0 || !_leases.IsEmpty || !_cursors.IsEmpty;

    private static TimeSpan SweepPeriodFor(DatabaseOptions options)
    {
        var shortest = new[] { options.LeaseIdleTimeout, options.MaxLeaseHoldTime, options.StatementTimeout, options.AcquireTimeout, options.CloseTimeout }.Min().Ticks;
        return TimeSpan.FromTicks(Math.Clamp(shortest / 4, TimeSpan.FromMilliseconds(20).Ticks, TimeSpan.FromSeconds(5).Ticks));
    }

    /// <summary>Under <c>_sync</c>, where a connection is taken or a waiter queued: the pool is in use, and visited
    /// every sweep period from now until it is quiet again.</summary>
    private void MarkUsed()
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
            lock (_sync)
            {
                return FilesHeld(_readers.Count + _readersOpening);
            }
        }
    }

    /// <summary>The files counted for a pool with <paramref name="readers"/> readers (the first is in
    /// <see cref="OpenFileBudget.PerDatabase"/>).</summary>
    private static long FilesHeld(int readers) => OpenFileBudget.PerDatabase + (OpenFileBudget.PerReader * Math.Max(0, readers - 1));

    private bool _filesReleased;

    /// <summary>Under <c>_sync</c>, as a reader that was opening ends: into the pool (<paramref name="opened"/>), or not,
    /// which gives back the files reserved for it (unless the closed pool gave back everything already).</summary>
    private void ReaderOpenEnded(bool opened)
    {
        var before = FilesHeld(_readers.Count + _readersOpening);
        _readersOpening--;
        if (!opened && !_filesReleased)
        {
            FileBudget?.Add(FilesHeld(_readers.Count + _readersOpening) - before);
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
        lock (_sync)
        {
            UnparkReader();
            if (_closed || _writerBusy || CallersBesidesWriter || _changes is not null)
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
        lock (_sync)
        {
            UnparkReader();
            var inUse = _writerBusy || CallersBesidesWriter;
            if (!_closed && inUse && _changes is null)
            {
                return null;
            }

            // Found quiet under the lock that closes it: a call that comes after is refused at its entry (see RetireIfQuiet).
            _retired |= !_closed && !inUse;
            return CloseAsync();
        }
    }

    /// <summary>Under <c>_sync</c>: whether one more reader may open. Past the file budget a database keeps to the
    /// readers it has, one at least (whose files its open reserved). A second reader's files are taken here, so two
    /// databases never both take the last room; a reader that then fails to open gives them back.</summary>
    private bool ReaderFits()
    {
        var count = _readers.Count + _readersOpening;
        return count < _options.MaxReaders
            && (count == 0 || FileBudget is not { } budget || budget.TryReserve(OpenFileBudget.PerReader));
    }

    /// <summary>A visit of the sweeper: does what is due and plans the next visit, which it always does first.</summary>
    internal void Sweep()
    {
        var now = Now;
        DateTimeOffset? next = now + _sweepPeriod;
        try
        {
            TimeOutWaiters();
            ExpireIdleLeases();
            _writer.Worker.InterruptIfOverdue(_options.StatementTimeout);
            PooledConnection[] readers;
            lock (_sync)
            {
                readers = [.. _readers];
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
        lock (_sync)
        {
            if (_closeTask is { IsCompleted: true })
            {
                return null;
            }

            UnparkReader();
            var governing = _governing is { IsCompleted: false };
            var inUse = (_writerBusy && !governing) || CallersBesidesWriter; // the governor's checkpoint is no use
            busy = _closed || inUse || _writerBusy || governing;
            if (inUse || _usedSinceSweep)
            {
                _lastUsedAt = now;
            }

            _usedSinceSweep = false;

            // An idle database closes with its readers (before its writer, by the close); otherwise idle readers close
            // alone. Readers never checkpoint as they close (NO_CKPT_ON_CLOSE), whichever connection closes last.
            closeIdle = !busy && _changes is null && _options.DatabaseIdleTimeout != Timeout.InfiniteTimeSpan
                && now - _lastUsedAt >= _options.DatabaseIdleTimeout;
            if (!closeIdle && !_closed && _idleReaders.Count > 0)
            {
                CollectIdleReaders(now, idleReaders);
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

        lock (_sync)
        {
            foreach (var reader in _idleReaders)
            {
                next = Min(next, After(reader.IdleSince, _options.ReaderIdleTimeout));
            }
        }

        return next == DateTimeOffset.MaxValue ? null : Max(next, now + _sweepPeriod);
    }

    /// <summary>Under <c>_sync</c>: takes the readers idle past <see cref="DatabaseOptions.ReaderIdleTimeout"/> out of
    /// the pool, for closing outside the lock; nobody can be granted them any more.</summary>
    private void CollectIdleReaders(DateTimeOffset now, List<PooledConnection> expired)
    {
        var keep = new List<PooledConnection>(_idleReaders.Count);
        foreach (var reader in _idleReaders)
        {
            (now - reader.IdleSince >= _options.ReaderIdleTimeout ? expired : keep).Add(reader);
        }

        if (expired.Count == 0)
        {
            return;
        }

        _idleReaders.Clear();
        for (var i = keep.Count - 1; i >= 0; i--)
        {
            _idleReaders.Push(keep[i]); // the same order: the most recently used on top
        }

        var before = FilesHeld(_readers.Count + _readersOpening);
        foreach (var reader in expired)
        {
            _readers.Remove(reader);
        }

        FileBudget?.Add(FilesHeld(_readers.Count + _readersOpening) - before);
    }

    private static DateTimeOffset Min(DateTimeOffset a, DateTimeOffset b) => a < b ? a : b;

    /// <summary><paramref name="time"/> + <paramref name="span"/>, or the end of time rather than past it.</summary>
    private static DateTimeOffset After(DateTimeOffset time, TimeSpan span) =>
        span >= DateTimeOffset.MaxValue - time ? DateTimeOffset.MaxValue : time + span;

    private static DateTimeOffset Max(DateTimeOffset a, DateTimeOffset b) => a > b ? a : b;
}
