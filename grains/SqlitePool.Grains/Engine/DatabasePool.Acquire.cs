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
        Waiter? waiter = null;
        lock (_sync)
        {
            ThrowIfClosed();
            switch (kind)
            {
                case LeaseKind.Reader:
                    // A pending exclusive request holds new readers back, and earlier waiters go first.
                    if (!_exclusiveHeld && _exclusiveWaiters.Count == 0 && _readerWaiters.Count == 0)
                    {
                        if (_idleReaders.TryPop(out var idle))
                        {
                            return Task.FromResult(idle);
                        }

                        if (_readers.Count + _readersOpening < _options.MaxReaders)
                        {
                            // Reserved under the lock, opened outside it.
                            _readersOpening++;
                            break;
                        }
                    }

                    waiter = Enqueue(_readerWaiters, kind, _options.ReaderQueueCapacity, "reader", nameof(DatabaseOptions.ReaderQueueCapacity), cancellationToken);
                    break;
                case LeaseKind.Writer:
                    if (!_exclusiveHeld && _exclusiveWaiters.Count == 0 && !_writerBusy && _writerWaiters.Count == 0)
                    {
                        _writerBusy = true;
                        return Task.FromResult(_writer);
                    }

                    waiter = Enqueue(_writerWaiters, kind, _options.WriterQueueCapacity, "writer", nameof(DatabaseOptions.WriterQueueCapacity), cancellationToken);
                    break;
                default:
                    if (_exclusiveWaiters.Count == 0 && CanGrantExclusive)
                    {
                        _exclusiveHeld = _writerBusy = true;
                        return Task.FromResult(_writer);
                    }

                    waiter = Enqueue(_exclusiveWaiters, kind, _options.WriterQueueCapacity, "exclusive", nameof(DatabaseOptions.WriterQueueCapacity), cancellationToken);
                    break;
            }
        }

        return waiter?.Completion.Task ?? OpenReaderAsync();
    }

    /// <summary>Gives a connection back and hands it, or what it frees, to the next waiters.</summary>
    private void ReleaseConnection(PooledConnection connection, LeaseKind kind)
    {
        lock (_sync)
        {
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
                _idleReaders.Push(connection);
            }

            Dispatch();
        }
    }

    /// <summary>Under <c>_sync</c>: grants what the current state allows, oldest waiter first.</summary>
    private void Dispatch()
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
            Grant(writer.Value, _writer);
        }

        while (_readerWaiters.First is { } reader)
        {
            if (_idleReaders.TryPop(out var idle))
            {
                Grant(reader.Value, idle);
            }
            else if (_readers.Count + _readersOpening < _options.MaxReaders)
            {
                _readersOpening++;
                var waiter = reader.Value;
                Detach(waiter);
                _ = CompleteWithNewReaderAsync(waiter);
            }
            else
            {
                break;
            }
        }
    }

    private async Task CompleteWithNewReaderAsync(Waiter waiter)
    {
        try
        {
            waiter.Completion.TrySetResult(await OpenReaderAsync().ConfigureAwait(false));
        }
        catch (Exception ex)
        {
            waiter.Completion.TrySetException(ex);
        }
    }

    private Waiter Enqueue(LinkedList<Waiter> queue, LeaseKind kind, int capacity, string name, string setting, CancellationToken cancellationToken)
    {
        if (queue.Count >= capacity)
        {
            throw new DatabaseOverloadedException(Database, name, capacity, setting);
        }

        var waiter = new Waiter(this, kind);
        waiter.Node = queue.AddLast(waiter);
        waiter.Timer = _time.CreateTimer(static s => ((Waiter)s!).TimeOut(), waiter, _options.AcquireTimeout, Timeout.InfiniteTimeSpan);
        if (cancellationToken.CanBeCanceled)
        {
            waiter.Cancellation = cancellationToken.Register(static s => ((Waiter)s!).Cancel(), waiter);
        }

        return waiter;
    }

    private static void Grant(Waiter waiter, PooledConnection connection)
    {
        Detach(waiter);
        waiter.Completion.TrySetResult(connection);
    }

    private static void Detach(Waiter waiter)
    {
        waiter.Node!.List?.Remove(waiter.Node);
        waiter.Timer?.Dispose();
        waiter.Cancellation.Unregister();
    }

    private void FailAllWaiters(Exception error)
    {
        foreach (var queue in new[] { _writerWaiters, _readerWaiters, _exclusiveWaiters })
        {
            while (queue.First is { } node)
            {
                Detach(node.Value);
                node.Value.Completion.TrySetException(error);
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

    /// <summary>A caller waiting for a connection; completed, timed out or cancelled exactly once under <c>_sync</c>.</summary>
    private sealed class Waiter(DatabasePool pool, LeaseKind kind)
    {
        public TaskCompletionSource<PooledConnection> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public LinkedListNode<Waiter>? Node { get; set; }

        public ITimer? Timer { get; set; }

        public CancellationTokenRegistration Cancellation { get; set; }

        public void TimeOut()
        {
            lock (pool._sync)
            {
                if (Node?.List is null)
                {
                    return;
                }

                pool._timeouts++;
                Detach(this);
                var what = kind switch
                {
                    LeaseKind.Reader => "a reader",
                    LeaseKind.Writer => "the writer",
                    _ => "exclusive access",
                };
                Completion.TrySetException(new DatabaseTimeoutException(pool.Database, what, pool._options.AcquireTimeout, nameof(DatabaseOptions.AcquireTimeout)));
                pool.Dispatch();
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
                Completion.TrySetCanceled();

                // A cancelled exclusive request may have been what held other waiters back.
                pool.Dispatch();
            }
        }
    }
}
