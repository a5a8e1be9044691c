using System.Diagnostics;
using SqlitePool.Diagnostics;
using SqlitePool.Hosting;

namespace SqlitePool.Engine;

/// <summary>
/// Who holds the connections of one database, who waits for them, and who is next: the _writer (taken alone, or with
/// exclusive access), the readers (idle, parked, opening or taken, and the files they are counted for), and three FIFO
/// queues of waiters (_writer, reader, exclusive). A pending exclusive request holds every other grant back; earlier
/// waiters of a role go before later callers of it.
/// </summary>
/// <remarks>
/// It owns the lock all of this is guarded by, and every member that reads or changes it asserts the lock is held (or
/// takes it). The pool keeps the state that goes beside the arbitration (its close, its housekeeping marks) under the
/// same lock, entered through <see cref="Gate"/>. What a grant sets in motion (a read posted to its reader, a commit group
/// to the _writer, a reader opened for a waiter) is the pool's: the arbiter calls it under the lock, and it runs no caller
/// code there (completions run their continuations asynchronously).
/// </remarks>
internal sealed partial class ConnectionArbiter
{
    private readonly Lock _lock = new();
    private readonly DatabasePool _pool;
    private readonly PooledConnection _writer;
    private readonly DatabaseOptions _options;
    private readonly TimeProvider _time;
    private readonly List<PooledConnection> _readers = [];
    private readonly Stack<PooledConnection> _idleReaders = new();
    private readonly LinkedList<Waiter> _writerWaiters = new();
    private readonly LinkedList<Waiter> _readerWaiters = new();
    private readonly LinkedList<Waiter> _exclusiveWaiters = new();
    private int _readersOpening;
    private long _turns; // waiters queued so far: each takes the next as its Turn
    private bool _writerBusy;
    private bool _exclusiveHeld;
    private bool _closed;
    private bool _filesReleased;
    private bool _waitsForRoom; // asked the file budget for a wake when files are freed (ReaderFits)
    private long _timeouts;

    public ConnectionArbiter(DatabasePool pool, PooledConnection writer, DatabaseOptions options, TimeProvider time)
    {
        _pool = pool;
        _writer = writer;
        _options = options;
        _time = time;
    }

    /// <summary>The lock of the arbitration, which also guards the pool's state kept beside it.</summary>
    public Lock Gate => _lock;

    public PooledConnection Writer => _writer;

    /// <summary>True once the pool began to close: every take is refused from then on.</summary>
    public bool IsClosed => Volatile.Read(ref _closed);

    /// <summary>Waiters that timed out.</summary>
    public long Timeouts => Interlocked.Read(ref _timeouts);

    /// <summary>Under the lock: the _writer is taken (alone, or with exclusive access).</summary>
    public bool WriterBusy
    {
        get
        {
            AssertHeld();
            return _writerBusy;
        }
    }

    /// <summary>Under the lock: readers taken or opening (a parked one counts until it is unparked).</summary>
    public int BusyReaders
    {
        get
        {
            AssertHeld();
            return _readers.Count - _idleReaders.Count + _readersOpening;
        }
    }

    /// <summary>Under the lock: a caller holds a reader or waits for a connection.</summary>
    public bool ReadersTakenOrWaiters
    {
        get
        {
            AssertHeld();
            return BusyReaders > 0 || _writerWaiters.Count + _readerWaiters.Count + _exclusiveWaiters.Count > 0;
        }
    }

    /// <summary>Under the lock: the readers open now (for the close, statistics and snapshots).</summary>
    public PooledConnection[] Readers
    {
        get
        {
            AssertHeld();
            return [.. _readers];
        }
    }

    /// <summary>Under the lock: the idle readers, the most recently used first.</summary>
    public IEnumerable<PooledConnection> IdleReaders
    {
        get
        {
            AssertHeld();
            return _idleReaders;
        }
    }

    /// <summary>Under the lock: what statistics show, without changing anything (a parked reader counts as idle).</summary>
    public (bool WriterBusy, bool ExclusiveHeld, int ReadersOpen, int ReadersIdle, int WriterWaiters, int ReaderWaiters, int ExclusiveWaiters) Counts
    {
        get
        {
            AssertHeld();
            var idle = _idleReaders.Count + (Volatile.Read(ref _parkedReader) is null ? 0 : 1);
            return (_writerBusy, _exclusiveHeld, _readers.Count, idle, _writerWaiters.Count, _readerWaiters.Count, _exclusiveWaiters.Count);
        }
    }

    /// <summary>Under the lock: the files the pool is counted for.</summary>
    public long FilesHeld
    {
        get
        {
            AssertHeld();
            return FilesFor(_readers.Count + _readersOpening);
        }
    }

    private bool CanGrantExclusive => !_exclusiveHeld && !_writerBusy && BusyReaders == 0;

    /// <summary>The files counted for a pool with <paramref name="readers"/> readers.</summary>
    private static long FilesFor(int readers) => OpenFileBudget.PerDatabase + (OpenFileBudget.PerReader * readers);

    /// <summary>Under the lock: no reader is open or opening.</summary>
    private bool NoReader => _readers.Count + _readersOpening == 0;

    [Conditional("DEBUG")]
    private void AssertHeld() => Debug.Assert(_lock.IsHeldByCurrentThread, "the arbiter's lock is held");

    /// <summary>Checks what must always hold between grants (debug builds).</summary>
    [Conditional("DEBUG")]
    private void AssertConsistent()
    {
        AssertHeld();
        Debug.Assert(!_exclusiveHeld || _writerBusy, "exclusive access holds the writer");
        Debug.Assert(_readersOpening >= 0 && _idleReaders.Count <= _readers.Count, "idle readers are open readers");
        Debug.Assert(_closed || _exclusiveWaiters.Count > 0 || _exclusiveHeld || _writerBusy || _writerWaiters.Count == 0, "a free _writer has no waiters");
        Debug.Assert(_closed || _exclusiveWaiters.Count > 0 || _exclusiveHeld || _idleReaders.Count == 0 || _readerWaiters.Count == 0, "an idle reader has no waiters");
    }

    /// <summary>Under the lock: takes a connection when one is free and nobody waits ahead; for a reader, may
    /// instead reserve the opening of a new one (<paramref name="openReader"/>; for a single read,
    /// <paramref name="forRead"/>, not past the file budget's ceiling).</summary>
    /// <exception cref="DatabaseClosedException">The pool is closing.</exception>
    public bool TryTake(LeaseKind kind, out PooledConnection? connection, out bool openReader, bool forRead = false)
    {
        AssertHeld();
        ThrowIfClosed();
        _pool.MarkUsed();
        connection = null;
        openReader = false;
        switch (kind)
        {
            case LeaseKind.Reader:
                // A pending exclusive request holds new readers back, and earlier waiters go first.
                if (!_exclusiveHeld && _exclusiveWaiters.Count == 0 && _readerWaiters.Count == 0)
                {
                    if (_idleReaders.TryPop(out connection) || TakeParkedReader(out connection))
                    {
                        return Took(connection);
                    }

                    // None is free: this caller opens a reader or waits, so leases stop parking theirs, and one
                    // parked just now is taken here.
                    Contend();
                    if (TakeParkedReader(out connection))
                    {
                        return Took(connection);
                    }

                    if (ReaderFits(forRead))
                    {
                        // Reserved under the lock, opened outside it.
                        _readersOpening++;
                        openReader = true;
                    }
                }

                return false;
            case LeaseKind.Writer:
                if (!_exclusiveHeld && _exclusiveWaiters.Count == 0 && !_writerBusy && _writerWaiters.Count == 0)
                {
                    _writerBusy = true;
                    connection = _writer;
                    return Took(connection);
                }

                return false;
            default:
                // Exclusive access needs every reader idle, the parked one counted among them.
                Contend();
                UnparkReader();
                if (_exclusiveWaiters.Count == 0 && CanGrantExclusive)
                {
                    _exclusiveHeld = _writerBusy = true;
                    connection = _writer;
                    return Took(connection);
                }

                return false;
        }
    }

    /// <summary>Under the lock: takes the writer for one read when the database has no reader open or opening, the
    /// writer is free and nobody waits. A database read now and then thus opens no reader (and holds no reader's files)
    /// until reads overlap with each other or with a write.</summary>
    /// <exception cref="DatabaseClosedException">The pool is closing.</exception>
    public bool TryBorrowWriter(out PooledConnection? connection)
    {
        AssertHeld();
        ThrowIfClosed();
        connection = null;
        if (!NoReader || _writerBusy || _exclusiveHeld || _exclusiveWaiters.Count + _writerWaiters.Count + _readerWaiters.Count > 0)
        {
            return false;
        }

        _pool.MarkUsed();
        _writerBusy = true;
        connection = _writer;
        return Took(connection);
    }

    private bool Took(PooledConnection connection)
    {
        _pool.TakenAtOnce(connection);
        return true;
    }

    /// <summary>Under the lock: queues a waiter for <paramref name="kind"/>, behind the others of its role that began to
    /// wait before it: at once, or at <paramref name="waitingSince"/> (a caller that waited elsewhere for a hand-off).</summary>
    /// <exception cref="DatabaseOverloadedException">The role's queue is full.</exception>
    public Waiter Enqueue(LeaseKind kind, CancellationToken cancellationToken, long? waitingSince = null)
    {
        AssertHeld();
        var (queue, capacity, name, setting) = kind switch
        {
            LeaseKind.Reader => (_readerWaiters, _options.ReaderQueueCapacity, "reader", nameof(DatabaseOptions.ReaderQueueCapacity)),
            LeaseKind.Writer => (_writerWaiters, _options.WriterQueueCapacity, "writer", nameof(DatabaseOptions.WriterQueueCapacity)),
            _ => (_exclusiveWaiters, _options.WriterQueueCapacity, "exclusive", nameof(DatabaseOptions.WriterQueueCapacity)),
        };
        if (queue.Count >= capacity)
        {
            throw new DatabaseOverloadedException(_pool.Database, name, capacity, setting);
        }

        _pool.MarkUsed();
        var waiter = new Waiter(this, kind);
        var now = _time.GetTimestamp();
        waiter.EnqueuedAt = waitingSince < now ? waitingSince.Value : now;

        // Each queue stays in the order its waiters began to wait, so the oldest is first and times out first
        // (TimeOutWaiters looks at the heads only): a waiter that waited elsewhere goes ahead of those that came since.
        var ahead = queue.Last;
        while (ahead is not null && ahead.Value.EnqueuedAt > waiter.EnqueuedAt)
        {
            ahead = ahead.Previous;
        }

        waiter.Node = ahead is null ? queue.AddFirst(waiter) : queue.AddAfter(ahead, waiter);
        waiter.Turn = ++_turns;
        if (cancellationToken.CanBeCanceled)
        {
            waiter.Cancellation = cancellationToken.Register(static s => ((Waiter)s!).Cancel(), waiter);
        }

        return waiter;
    }

    /// <summary>A waiter for a reader that opens for it (outside the queues): the reader is reserved already.</summary>
    public Waiter OpeningFor(IReadJob job) => new(this, LeaseKind.Reader) { ReadJob = job, EnqueuedAt = _time.GetTimestamp() };

    /// <summary>Gives a connection back and hands it, or what it frees, to the next waiters.</summary>
    public void GiveBack(PooledConnection connection, LeaseKind kind)
    {
        lock (_lock)
        {
            connection.HeldLocally = false;
            if (_pool.CloseIfAbandoned(connection))
            {
                return;
            }

            if (connection.IsWriter)
            {
                _writerBusy = false;
                if (kind == LeaseKind.Exclusive)
                {
                    _exclusiveHeld = false;
                }
            }
            else
            {
                connection.IdleSince = _pool.Now;
                _idleReaders.Push(connection);
            }

            Dispatch();
        }
    }

    /// <summary>Under the lock: grants what the current state allows, oldest waiter first.</summary>
    public void Dispatch()
    {
        AssertHeld();
        if (_contended)
        {
            UnparkReader();
        }

        GrantWaiting();
        _contended = _closed || _exclusiveHeld || _exclusiveWaiters.Count > 0 || _readerWaiters.Count > 0;
        AssertConsistent();
    }

    private void GrantWaiting()
    {
        if (_closed)
        {
            if (!_writerBusy && BusyReaders == 0)
            {
                _pool.Drained();
            }

            return;
        }

        if (_exclusiveWaiters.First is { } exclusive)
        {
            if (CanGrantExclusive)
            {
                _exclusiveHeld = _writerBusy = true;
                Grant(exclusive.Value, _writer);
            }

            // A waiting exclusive request holds every other grant back until it has run.
            return;
        }

        if (_exclusiveHeld)
        {
            return;
        }

        while (_readerWaiters.First is { } reader)
        {
            if (_idleReaders.TryPop(out var idle))
            {
                Grant(reader.Value, idle);
            }
            else if (ReaderFits(forRead: reader.Value.ReadJob is { MayRunOnWriter: true }))
            {
                _readersOpening++;
                var waiter = reader.Value;
                Detach(waiter);
                _pool.StartOnNewReader(waiter);
            }
            else
            {
                break;
            }
        }

        if (_writerBusy)
        {
            return;
        }

        // Past the file budget's ceiling a database with no reader runs its waiting reads on its writer, one at a time,
        // taking turns with the writes by age: a stream of writes does not hold a read back. Each runs there as briefly
        // as a read that borrowed it, or moves to a reader (DatabasePool.LimitOnWriter): no long read holds the writes back.
        var write = _writerWaiters.First;
        var read = NoReader && _readerWaiters.First is { Value.ReadJob.MayRunOnWriter: true } first ? first.Value : null;
        if (read is not null && (write is null || read.Turn < write.Value.Turn))
        {
            _writerBusy = true;
            Grant(read, _writer);
        }
        else if (write is not null)
        {
            _writerBusy = true;
            if (write.Value.WriteJob is not null)
            {
                _pool.StartWrites(TakeWriteGroup(read?.Turn ?? long.MaxValue));
            }
            else
            {
                Grant(write.Value, _writer);
            }
        }
    }

    /// <summary>Under the lock: the write jobs at the head of the _writer queue, up to <see cref="WriteGroup.MaxSize"/>,
    /// and none queued after <paramref name="beforeTurn"/> (a read waiting for the writer goes next).</summary>
    private List<WriteJob> TakeWriteGroup(long beforeTurn)
    {
        var group = new List<WriteJob>();
        while (group.Count < WriteGroup.MaxSize && _writerWaiters.First is { Value.WriteJob: { } job } node && node.Value.Turn < beforeTurn)
        {
            Detach(node.Value);
            _pool.Metrics?.Waited(node.Value.EnqueuedAt);
            group.Add(job);
        }

        return group;
    }

    /// <summary>Under the lock: gives a connection to a waiter: a lease request gets it, a queued read or write starts on it.</summary>
    public void Grant(Waiter waiter, PooledConnection connection)
    {
        AssertHeld();
        Detach(waiter);
        _pool.Metrics?.Waited(waiter.EnqueuedAt);
        connection.TakenAt = _pool.Metrics?.ConnectionStart() ?? 0;
        if (waiter.ReadJob is { } read)
        {
            _pool.StartRead(connection, read);
        }
        else if (waiter.WriteJob is { } write)
        {
            _pool.StartWrites([write]);
        }
        else
        {
            waiter.Completion.TrySetResult(connection);
        }
    }

    private static void Detach(Waiter waiter)
    {
        if (waiter.Node?.List is { } queue)
        {
            queue.Remove(waiter.Node);
        }

        waiter.Cancellation.Unregister();
    }

    /// <summary>Times out the waiters that have waited <see cref="DatabaseOptions.AcquireTimeout"/> (oldest first in
    /// each queue), then grants what that freed. Run by the sweeper rather than a timer per waiter.</summary>
    public void TimeOutWaiters()
    {
        lock (_lock)
        {
            var timedOut = false;
            foreach (var queue in new[] { _writerWaiters, _readerWaiters, _exclusiveWaiters })
            {
                while (queue.First is { } node && _time.GetElapsedTime(node.Value.EnqueuedAt) >= _options.AcquireTimeout)
                {
                    node.Value.TimeOut();
                    timedOut = true;
                }
            }

            if (timedOut)
            {
                Dispatch();
            }
        }
    }

    /// <summary>Under the lock: refuses every take from now on, fails every waiter, and stops parking readers.</summary>
    /// <returns>True when nothing is taken any more (the close need not wait for connections to come back).</returns>
    public bool Close()
    {
        AssertHeld();
        _closed = true;
        Contend();
        UnparkReader();
        var error = new DatabaseClosedException(_pool.Database);
        foreach (var queue in new[] { _writerWaiters, _readerWaiters, _exclusiveWaiters })
        {
            while (queue.First is { } node)
            {
                Detach(node.Value);
                node.Value.Fail(error);
            }
        }

        return !_writerBusy && BusyReaders == 0;
    }

    /// <summary>Under the lock, as the close ends: the pool's files are counted no more (readers still opening then
    /// count nothing as they end).</summary>
    public void ReleaseFiles()
    {
        AssertHeld();
        _pool.FileBudget?.Add(-FilesHeld);
        _filesReleased = true;
    }

    /// <summary>Under the lock: whether <paramref name="waiter"/> is a read that waits for the writer because the file
    /// budget let no first reader open.</summary>
    private bool WaitsForWriterToRead(Waiter waiter) =>
        waiter.ReadJob is { MayRunOnWriter: true } && NoReader && !_exclusiveHeld && _exclusiveWaiters.Count == 0
        && _pool.FileBudget is { } budget && budget.Used + OpenFileBudget.PerReader > budget.Ceiling;

    /// <summary>Under the lock: whether one more reader may open. Its files are taken here, so two databases never
    /// both take the last room; a reader that then fails to open gives them back. Past the file budget a database keeps
    /// to the readers it has, except a first one, which may go up to the budget's ceiling; past that a first one opens
    /// only for what cannot run on the writer (<paramref name="forRead"/> false): a plain query waits for the writer instead.</summary>
    private bool ReaderFits(bool forRead)
    {
        var count = _readers.Count + _readersOpening;
        if (count >= _options.MaxReaders)
        {
            return false;
        }

        if (_pool.FileBudget is not { } budget || Reserve(budget, count, forRead))
        {
            return true;
        }

        // No room: this database's own connections coming back dispatch again, but none may come back for long (a
        // held writer or reader), and room another database frees tells nobody here. The budget wakes it then; asked
        // once until it does (the budget's lock is process-wide), and tried again after asking, so room freed between
        // the try and the asking is not missed.
        if (_waitsForRoom)
        {
            return false;
        }

        _waitsForRoom = true;
        budget.WakeOnRoom(this);
        return Reserve(budget, count, forRead);

        static bool Reserve(OpenFileBudget budget, int count, bool forRead)
        {
            if (budget.TryReserve(OpenFileBudget.PerReader))
            {
                return true;
            }

            if (count > 0)
            {
                return false;
            }

            if (forRead)
            {
                return budget.TryOverdraw(OpenFileBudget.PerReader);
            }

            budget.Add(OpenFileBudget.PerReader);
            return true;
        }
    }

    /// <summary>Files were freed (by another database, or a reader of this one): a waiter a reader did not fit for may
    /// get one now.</summary>
    public void RoomFreed()
    {
        lock (_lock)
        {
            _waitsForRoom = false;
            if (!_closed)
            {
                Dispatch();
            }
        }
    }

    /// <summary>Under the lock, as a reader that was opening ends: into the pool (<paramref name="opened"/>, unless the
    /// pool closed meanwhile), or not, which gives back the files reserved for it (unless the closed pool gave back
    /// everything already). Then grants what that allows.</summary>
    /// <returns>True when the reader joined the _pool.</returns>
    public bool ReaderOpenEnded(PooledConnection? opened)
    {
        AssertHeld();
        var before = FilesHeld;
        _readersOpening--;
        var joined = opened is not null && !_closed;
        if (joined)
        {
            _readers.Add(opened!);
        }
        else if (!_filesReleased)
        {
            _pool.FileBudget?.Add(FilesHeld - before);
        }

        return joined;
    }

    /// <summary>Under the lock: takes the readers idle past <see cref="DatabaseOptions.ReaderIdleTimeout"/> out of
    /// the pool, for closing outside the lock; nobody can be granted them any more.</summary>
    public void CollectIdleReaders(DateTimeOffset now, List<PooledConnection> expired)
    {
        AssertHeld();
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

        var before = FilesHeld;
        foreach (var reader in expired)
        {
            _readers.Remove(reader);
        }

        _pool.FileBudget?.Add(FilesHeld - before);
    }

    /// <summary>Under the lock, past the close's limit: every connection, each marked abandoned when a silo-local lease
    /// holds it (it closes when given back).</summary>
    public PooledConnection[] AbandonHeldConnections()
    {
        AssertHeld();
        PooledConnection[] connections = [.. _readers, _writer];
        foreach (var connection in connections)
        {
            connection.Abandoned = connection.HeldLocally;
        }

        return connections;
    }

    private void ThrowIfClosed()
    {
        if (_closed)
        {
            throw new DatabaseClosedException(_pool.Database);
        }
    }

    /// <summary>A caller waiting for a connection, or a read or write waiting to run; completed, timed out or
    /// cancelled exactly once under the arbiter's lock.</summary>
    internal sealed class Waiter(ConnectionArbiter arbiter, LeaseKind kind)
    {
        private TaskCompletionSource<PooledConnection>? _completion;

        /// <summary>For a lease request: completed with the connection. Made on first use, so used only under the lock.</summary>
        public TaskCompletionSource<PooledConnection> Completion => _completion ??= new(TaskCreationOptions.RunContinuationsAsynchronously);

        /// <summary>A read to run on the reader when granted.</summary>
        public IReadJob? ReadJob { get; set; }

        /// <summary>A write to run on the _writer when granted.</summary>
        public WriteJob? WriteJob { get; set; }

        public LinkedListNode<Waiter>? Node { get; set; }

        /// <summary>When it started waiting (a <see cref="TimeProvider"/> timestamp); the sweeper times it out.</summary>
        public long EnqueuedAt { get; set; }

        /// <summary>Its place among every waiter the arbiter queued: lower came first.</summary>
        public long Turn { get; set; }

        public CancellationTokenRegistration Cancellation { get; set; }

        /// <summary>Under the lock: fails the waiter with the acquisition timeout.</summary>
        public void TimeOut()
        {
            var pool = arbiter._pool;
            Interlocked.Increment(ref arbiter._timeouts);
            pool.Metrics?.Timeout();
            PoolLog.AcquireTimedOut(pool.Logger, kind, pool.Database, arbiter._options.AcquireTimeout);
            Detach(this);
            var what = kind switch
            {
                LeaseKind.Reader when arbiter.WaitsForWriterToRead(this) => "the writer, for a read (no reader could open: the process's open files are past the budget)",
                LeaseKind.Reader => "a reader",
                LeaseKind.Writer => "the writer",
                _ => "exclusive access",
            };
            Fail(new DatabaseTimeoutException(pool.Database, what, arbiter._options.AcquireTimeout, nameof(DatabaseOptions.AcquireTimeout)));
        }

        public void Fail(Exception error)
        {
            if (ReadJob is { } read)
            {
                read.TryFail(error);
            }
            else if (WriteJob is { } write)
            {
                write.TryFail(error);
            }
            else
            {
                Completion.TrySetException(error);
            }
        }

        public void Cancel()
        {
            lock (arbiter._lock)
            {
                if (Node?.List is null)
                {
                    return;
                }

                Detach(this);
                if (ReadJob is null && WriteJob is null)
                {
                    // A queued read or write is cancelled by its own registration.
                    Completion.TrySetCanceled();
                }

                // A cancelled exclusive request may have been what held other waiters back.
                arbiter.Dispatch();
            }
        }
    }
}
