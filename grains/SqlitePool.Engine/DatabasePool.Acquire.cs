using SqlitePool.Diagnostics;
using SqlitePool.Hosting;

namespace SqlitePool.Engine;

public sealed partial class DatabasePool
{
    private int BusyReaders => _readers.Count - _idleReaders.Count + _readersOpening;

    private bool CanGrantExclusive => !_exclusiveHeld && !_writerBusy && BusyReaders == 0;

    /// <summary>Takes a connection for <paramref name="kind"/>, waiting FIFO behind earlier callers of the same role.</summary>
    private Task<PooledConnection> AcquireConnectionAsync(LeaseKind kind, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        Task<PooledConnection>? waiting = null;
        PooledConnection? connection;
        lock (_sync)
        {
            if (!TryTake(kind, out connection, out var openReader) && !openReader)
            {
                // Under the lock: the completion is made on first use, and a grant may come as soon as it is released.
                waiting = Enqueue(kind, cancellationToken).Completion.Task;
            }
        }

        return waiting ?? (connection is not null ? Task.FromResult(connection) : TakeNewReaderAsync());
    }

    private async Task<PooledConnection> TakeNewReaderAsync()
    {
        var since = Metrics?.ConnectionStart() ?? 0;
        var reader = await OpenReaderAsync().ConfigureAwait(false);
        Metrics?.Waited(since);
        reader.TakenAt = since;
        return reader;
    }

    /// <summary>Runs a read on the next free reader; it waits FIFO with reader leases.</summary>
    private void SubmitRead(IReadJob job, CancellationToken cancellationToken)
    {
        PooledConnection? connection;
        bool openReader;
        lock (_sync)
        {
            if (!TryTake(LeaseKind.Reader, out connection, out openReader) && !openReader)
            {
                Enqueue(LeaseKind.Reader, cancellationToken).ReadJob = job;
                return;
            }
        }

        if (connection is not null)
        {
            StartRead(connection, job);
        }
        else
        {
            // A reader is opening for it: a cancellation now is reported once that reader is back.
            job.Attach(static () => { });
            _ = StartOnNewReaderAsync(new Waiter(this, LeaseKind.Reader) { ReadJob = job, EnqueuedAt = _time.GetTimestamp() });
        }
    }

    /// <summary>Runs a write on the writer; writes waiting together form one commit group.</summary>
    private Task<ExecuteResult[]> SubmitWrite(WriteJob job)
    {
        job.Token.ThrowIfCancellationRequested();
        lock (_sync)
        {
            if (!TryTake(LeaseKind.Writer, out _, out _))
            {
                Enqueue(LeaseKind.Writer, job.Token).WriteJob = job;
                return job.Task;
            }
        }

        StartWrites([job]);
        return job.Task;
    }

    /// <summary>Runs writes that arrived together: on a free writer as one commit group (up to
    /// <see cref="WriteGroup.MaxSize"/>), the others queued behind it; those past the queue's capacity fail.</summary>
    private void SubmitWrites(List<WriteJob> jobs)
    {
        List<WriteJob> start = [];
        var overloaded = new List<(WriteJob Job, Exception Error)>();
        lock (_sync)
        {
            var rest = jobs;
            if (TryTake(LeaseKind.Writer, out var writer, out _))
            {
                start = jobs[..Math.Min(jobs.Count, WriteGroup.MaxSize)];
                rest = jobs[start.Count..];

                // Each write asked for the writer: the others got it at once with the first.
                for (var i = 1; i < start.Count; i++)
                {
                    Metrics?.Waited(writer!.TakenAt);
                }
            }

            foreach (var job in rest)
            {
                try
                {
                    Enqueue(LeaseKind.Writer, CancellationToken.None).WriteJob = job;
                }
                catch (DatabaseOverloadedException ex)
                {
                    overloaded.Add((job, ex));
                }
            }
        }

        overloaded.ForEach(o => o.Job.TryFail(o.Error));
        if (start.Count > 0)
        {
            StartWrites(start);
        }
    }

    /// <summary>Under <c>_sync</c>: takes a connection when one is free and nobody waits ahead; for a reader, may
    /// instead reserve the opening of a new one (<paramref name="openReader"/>).</summary>
    private bool TryTake(LeaseKind kind, out PooledConnection? connection, out bool openReader)
    {
        ThrowIfClosed();
        MarkUsed();
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

                    if (ReaderFits())
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

    // A connection taken at once: no wait, and its use starts now.
    private bool Took(PooledConnection connection)
    {
        if (Metrics is { } metrics)
        {
            connection.TakenAt = metrics.ConnectionStart();
            metrics.Waited(connection.TakenAt);
        }

        return true;
    }

    private void StartRead(PooledConnection reader, IReadJob job)
    {
        job.Attach(() => ReleaseConnection(reader, LeaseKind.Reader));
        reader.Worker.Post(job.Item);
    }

    private void StartWrites(List<WriteJob> jobs)
    {
        jobs.ForEach(j => j.MarkPosted());
        _writer.Worker.Post(new WriteGroup(jobs, () => ReleaseConnection(_writer, LeaseKind.Writer), Committed));
    }

    private void Committed(int writes)
    {
        Interlocked.Increment(ref _commits);
        Metrics?.Committed(writes);
    }

    /// <summary>Under <c>_sync</c>: the write jobs at the head of the writer queue, up to <see cref="WriteGroup.MaxSize"/>.</summary>
    private List<WriteJob> TakeWriteGroup()
    {
        var group = new List<WriteJob>();
        while (group.Count < WriteGroup.MaxSize && _writerWaiters.First is { Value.WriteJob: { } job } node)
        {
            Detach(node.Value);
            Metrics?.Waited(node.Value.EnqueuedAt);
            group.Add(job);
        }

        return group;
    }

    /// <summary>Gives a connection back and hands it, or what it frees, to the next waiters.</summary>
    private void ReleaseConnection(PooledConnection connection, LeaseKind kind)
    {
        Metrics?.Used(connection.TakenAt);
        GiveBack(connection, kind);
    }

    private void GiveBack(PooledConnection connection, LeaseKind kind)
    {
        lock (_sync)
        {
            connection.HeldLocally = false;
            if (CloseIfAbandoned(connection))
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
                connection.IdleSince = Now;
                _idleReaders.Push(connection);
            }

            Dispatch();
        }
    }

    /// <summary>Under <c>_sync</c>: grants what the current state allows, oldest waiter first.</summary>
    private void Dispatch()
    {
        if (_contended)
        {
            UnparkReader();
        }

        GrantWaiting();
        _contended = _closed || _exclusiveHeld || _exclusiveWaiters.Count > 0 || _readerWaiters.Count > 0;
    }

    private void GrantWaiting()
    {
        if (_closed)
        {
            if (!_writerBusy && BusyReaders == 0)
            {
                _drained?.TrySetResult();
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

        if (!_writerBusy && _writerWaiters.First is { } writer)
        {
            _writerBusy = true;
            if (writer.Value.WriteJob is not null)
            {
                StartWrites(TakeWriteGroup());
            }
            else
            {
                Grant(writer.Value, _writer);
            }
        }

        while (_readerWaiters.First is { } reader)
        {
            if (_idleReaders.TryPop(out var idle))
            {
                Grant(reader.Value, idle);
            }
            else if (ReaderFits())
            {
                _readersOpening++;
                var waiter = reader.Value;
                Detach(waiter);
                _ = StartOnNewReaderAsync(waiter);
            }
            else
            {
                break;
            }
        }
    }

    private async Task StartOnNewReaderAsync(Waiter waiter)
    {
        PooledConnection reader;
        try
        {
            reader = await OpenReaderAsync().ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            waiter.Fail(ex);
            return;
        }

        lock (_sync)
        {
            Grant(waiter, reader);
        }
    }

    private Waiter Enqueue(LeaseKind kind, CancellationToken cancellationToken)
    {
        var (queue, capacity, name, setting) = kind switch
        {
            LeaseKind.Reader => (_readerWaiters, _options.ReaderQueueCapacity, "reader", nameof(DatabaseOptions.ReaderQueueCapacity)),
            LeaseKind.Writer => (_writerWaiters, _options.WriterQueueCapacity, "writer", nameof(DatabaseOptions.WriterQueueCapacity)),
            _ => (_exclusiveWaiters, _options.WriterQueueCapacity, "exclusive", nameof(DatabaseOptions.WriterQueueCapacity)),
        };
        if (queue.Count >= capacity)
        {
            throw new DatabaseOverloadedException(Database, name, capacity, setting);
        }

        MarkUsed();
        var waiter = new Waiter(this, kind);
        waiter.Node = queue.AddLast(waiter);
        waiter.EnqueuedAt = _time.GetTimestamp();
        if (cancellationToken.CanBeCanceled)
        {
            waiter.Cancellation = cancellationToken.Register(static s => ((Waiter)s!).Cancel(), waiter);
        }

        return waiter;
    }

    /// <summary>Gives a connection to a waiter: a lease request gets it, a queued read starts on it.</summary>
    private void Grant(Waiter waiter, PooledConnection connection)
    {
        Detach(waiter);
        Metrics?.Waited(waiter.EnqueuedAt);
        connection.TakenAt = Metrics?.ConnectionStart() ?? 0;
        if (waiter.ReadJob is { } read)
        {
            StartRead(connection, read);
        }
        else if (waiter.WriteJob is { } write)
        {
            StartWrites([write]);
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
    private void TimeOutWaiters()
    {
        lock (_sync)
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

    private void FailAllWaiters(Exception error)
    {
        foreach (var queue in new[] { _writerWaiters, _readerWaiters, _exclusiveWaiters })
        {
            while (queue.First is { } node)
            {
                Detach(node.Value);
                node.Value.Fail(error);
            }
        }
    }

    private void ThrowIfClosed()
    {
        if (_closed)
        {
            throw new DatabaseClosedException(Database);
        }
    }

    /// <summary>A caller waiting for a connection, or a read or write waiting to run; completed, timed out or
    /// cancelled exactly once under <c>_sync</c>.</summary>
    private sealed class Waiter(DatabasePool pool, LeaseKind kind)
    {
        private TaskCompletionSource<PooledConnection>? _completion;

        /// <summary>For a lease request: completed with the connection. Made on first use, so used only under <c>_sync</c>.</summary>
        public TaskCompletionSource<PooledConnection> Completion => _completion ??= new(TaskCreationOptions.RunContinuationsAsynchronously);

        /// <summary>A read to run on the reader when granted.</summary>
        public IReadJob? ReadJob { get; set; }

        /// <summary>A write to run on the writer when granted.</summary>
        public WriteJob? WriteJob { get; set; }

        public LinkedListNode<Waiter>? Node { get; set; }

        /// <summary>When it started waiting (a <see cref="TimeProvider"/> timestamp); the sweeper times it out.</summary>
        public long EnqueuedAt { get; set; }

        public CancellationTokenRegistration Cancellation { get; set; }

        /// <summary>Under <c>_sync</c>: fails the waiter with the acquisition timeout.</summary>
        public void TimeOut()
        {
            pool._timeouts++;
            pool.Metrics?.Timeout();
            PoolLog.AcquireTimedOut(pool.Logger, kind, pool.Database, pool._options.AcquireTimeout);
            Detach(this);
            var what = kind switch
            {
                LeaseKind.Reader => "a reader",
                LeaseKind.Writer => "the writer",
                _ => "exclusive access",
            };
            Fail(new DatabaseTimeoutException(pool.Database, what, pool._options.AcquireTimeout, nameof(DatabaseOptions.AcquireTimeout)));
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
            lock (pool._sync)
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
                pool.Dispatch();
            }
        }
    }
}
