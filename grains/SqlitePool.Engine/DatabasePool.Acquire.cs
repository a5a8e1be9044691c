namespace SqlitePool.Engine;

/// <summary>The pool's side of the arbitration (<see cref="ConnectionArbiter"/>): asking for connections, and what a
/// grant sets in motion (a read posted to its reader, a commit group to the writer, a reader opened for a waiter).</summary>
public sealed partial class DatabasePool
{
    /// <summary>Takes a connection for <paramref name="kind"/>, waiting FIFO behind earlier callers of the same role.</summary>
    private Task<PooledConnection> AcquireConnectionAsync(LeaseKind kind, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        Task<PooledConnection>? waiting = null;
        PooledConnection? connection;
        lock (_arbiter.Gate)
        {
            if (!_arbiter.TryTake(kind, out connection, out var openReader) && !openReader)
            {
                // Under the lock: the completion is made on first use, and a grant may come as soon as it is released.
                waiting = _arbiter.Enqueue(kind, cancellationToken).Completion.Task;
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

    /// <summary>Runs a read on the next free reader; it waits FIFO with reader leases. With
    /// <paramref name="onCallerSql"/> (the read's text) and a reader free at once, the read starts on the calling thread
    /// (<see cref="ConnectionWorker.RunOnCaller"/>, for at most <see cref="Hosting.DatabaseOptions.CallerThreadReadLimit"/>).
    /// With <paramref name="borrowSql"/> (its text) and no reader open, it runs on the free writer instead
    /// (<see cref="StartReadOnWriter"/>). With <paramref name="waitingSince"/>, a read that must wait has waited since then.</summary>
    private void SubmitRead(IReadJob job, CancellationToken cancellationToken, string? onCallerSql = null, string? borrowSql = null, long? waitingSince = null)
    {
        PooledConnection? connection;
        lock (_arbiter.Gate)
        {
            if (borrowSql is not null && _arbiter.TryBorrowWriter(out connection))
            {
                // Outside the lock below.
            }
            else if (!_arbiter.TryTake(LeaseKind.Reader, out connection, out var openReader, forRead: job.MayRunOnWriter) && !openReader)
            {
                _arbiter.Enqueue(LeaseKind.Reader, cancellationToken, waitingSince).ReadJob = job;

                // With no reader open and none to open (past the file budget), the free writer may take it.
                _arbiter.Dispatch();
                return;
            }
        }

        if (connection is { IsWriter: true })
        {
            StartReadOnWriter(job, borrowSql!, onCaller: onCallerSql is not null);
        }
        else if (connection is not null)
        {
            StartRead(connection, job, onCallerSql);
        }
        else
        {
            // A reader is opening for it: a cancellation now is reported once that reader is back.
            job.Attach(static () => { });
            StartOnNewReader(_arbiter.OpeningFor(job));
        }
    }

    /// <summary>Runs a read on the writer it borrowed (<see cref="ConnectionArbiter.TryBorrowWriter"/>): on the calling
    /// thread when <paramref name="onCaller"/>, else posted, for a limited time (<see cref="LimitOnWriter"/>); if stopped
    /// there, its text goes to a reader for a while (<see cref="LongReads"/>).</summary>
    private void StartReadOnWriter(IReadJob job, string sql, bool onCaller)
    {
        var item = job.Item;
        LimitOnWriter(job, sql);
        job.Attach(() => ReleaseConnection(_writer, LeaseKind.Reader));
        Interlocked.Increment(ref _readsOnWriter);
        var run = onCaller ? _writer.Worker.RunOnCaller(item, _options.CallerThreadReadLimit) : CallerRun.Busy;
        if (run == CallerRun.Busy)
        {
            try
            {
                _writer.Worker.Post(item);
            }
            catch (ObjectDisposedException)
            {
                // Its worker stopped: the pool closed past its limit meanwhile. The writer goes back before the caller hears.
                ReleaseConnection(_writer, LeaseKind.Reader);
                job.TryFail(new DatabaseClosedException(Database));
            }
        }
        else if (run == CallerRun.Answered)
        {
            Interlocked.Increment(ref _readsOnCaller);
        }
    }

    /// <summary>
    /// Bounds a read on the writer, borrowed or granted past the file budget's ceiling: a write arriving meanwhile waits
    /// for it, so it runs for at most <see cref="Hosting.DatabaseOptions.CallerThreadReadLimit"/>. Past that it stops,
    /// gives the writer back and runs again from the start on a reader; having shown it would hold the writer, it never
    /// runs there again, so its database's first reader opens for it even past the ceiling, as a lease's does.
    /// <paramref name="sql"/>, when known, is noted in <see cref="LongReads"/>.
    /// </summary>
    private void LimitOnWriter(IReadJob job, string? sql)
    {
        var item = job.Item;
        item.MoveLimit = _options.CallerThreadReadLimit;
        item.MoveTo = limitPassed =>
        {
            item.MoveTo = null;
            job.Attach(null);
            if (limitPassed)
            {
                job.MayRunOnWriter = false;
                if (sql is not null)
                {
                    LongReads.Note(sql);
                }
            }

            ReleaseConnection(_writer, LeaseKind.Reader);
            try
            {
                SubmitRead(job, job.Token);
            }
            catch (Exception ex)
            {
                // The pool began to close, or the reader queue is full: the read ends here.
                job.TryFail(ex);
            }
        };
    }

    /// <summary>Runs a write on the writer; writes waiting together form one commit group.</summary>
    private Task<ExecuteResult[]> SubmitWrite(WriteJob job)
    {
        job.Token.ThrowIfCancellationRequested();
        lock (_arbiter.Gate)
        {
            if (!_arbiter.TryTake(LeaseKind.Writer, out _, out _))
            {
                _arbiter.Enqueue(LeaseKind.Writer, job.Token).WriteJob = job;
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
        lock (_arbiter.Gate)
        {
            var rest = jobs;
            if (_arbiter.TryTake(LeaseKind.Writer, out var writer, out _))
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
                    _arbiter.Enqueue(LeaseKind.Writer, CancellationToken.None).WriteJob = job;
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

    /// <summary>A connection taken at once: no wait, and its use starts now.</summary>
    internal void TakenAtOnce(PooledConnection connection)
    {
        if (Metrics is { } metrics)
        {
            connection.TakenAt = metrics.ConnectionStart();
            metrics.Waited(connection.TakenAt);
        }
    }

    /// <summary>Posts a read to the reader it was given, or runs it on the calling thread first when
    /// <paramref name="onCallerSql"/> (its text) is given; the reader goes back when the read ends.</summary>
    internal void StartRead(PooledConnection reader, IReadJob job, string? onCallerSql = null)
    {
        if (reader.IsWriter)
        {
            // Granted the writer: past the file budget's ceiling, a database with no reader reads there, as briefly as a
            // read that borrowed it, so its writes do not wait behind a long read.
            Interlocked.Increment(ref _readsOnWriter);
            LimitOnWriter(job, sql: null);
        }

        job.Attach(() => ReleaseConnection(reader, LeaseKind.Reader));
        var run = onCallerSql is null ? CallerRun.Busy : reader.Worker.RunOnCaller(job.Item, _options.CallerThreadReadLimit);
        switch (run)
        {
            case CallerRun.Busy:
                reader.Worker.Post(job.Item);
                break;
            case CallerRun.Answered:
                Interlocked.Increment(ref _readsOnCaller);
                break;
            case CallerRun.Moved:
                LongReads.Note(onCallerSql!);
                break;
        }
    }

    /// <summary>Posts writes to the writer they were given, as one commit group; the writer goes back after it.</summary>
    internal void StartWrites(List<WriteJob> jobs)
    {
        jobs.ForEach(j => j.MarkPosted());
        _writer.Worker.Post(new WriteGroup(jobs, () => ReleaseConnection(_writer, LeaseKind.Writer), Committed));
    }

    // On the writer, after a commit: its transaction id, which the writes' results carry.
    private long Committed(int writes)
    {
        Interlocked.Increment(ref _commits);
        Metrics?.Committed(writes);
        return TransactionId;
    }

    /// <summary>Gives a connection back and hands it, or what it frees, to the next waiters.</summary>
    private void ReleaseConnection(PooledConnection connection, LeaseKind kind)
    {
        Metrics?.Used(connection.TakenAt);
        _arbiter.GiveBack(connection, kind);
    }

    /// <summary>Opens a reader reserved for <paramref name="waiter"/> (outside the lock) and grants it.</summary>
    internal void StartOnNewReader(ConnectionArbiter.Waiter waiter) => _ = StartOnNewReaderAsync(waiter);

    private async Task StartOnNewReaderAsync(ConnectionArbiter.Waiter waiter)
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

        lock (_arbiter.Gate)
        {
            _arbiter.Grant(waiter, reader);
        }
    }
}
