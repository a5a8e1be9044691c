namespace SqlitePool.Engine;

/// <summary>
/// The silo-local lease's fast path. A reader given back by a local lease while nobody waits is parked in one
/// slot beside the arbitration state, and the next local reader lease takes it without the lock: the common
/// take-and-return around one query touches one field instead of the lock, the queues and the idle stack.
/// </summary>
/// <remarks>
/// A parked reader is idle. Under the lock it counts as busy until <see cref="UnparkReader"/> moves it to the
/// idle stack, which everything that grants readers or counts them does first. Parking stops while
/// <see cref="Contended"/> is set: when a reader caller found none free, when exclusive access is wanted or held, and
/// when the pool closes. Setting the flag and then reading the slot on one side, and filling the slot and then
/// reading the flag on the other, each with a full fence between, means a reader parked in a race with a new
/// waiter is seen by one of the two.
/// </remarks>
internal sealed partial class ConnectionArbiter
{
    private PooledConnection? _parkedReader;

    /// <summary>Set under the lock; cleared by <see cref="Dispatch"/> once no reader caller waits, exclusive access
    /// is neither wanted nor held and the pool is open.</summary>
    private volatile bool _contended;

    /// <summary>Whether readers may not be parked now (read without the lock: a hint, rechecked by <see cref="TryParkReader"/>).</summary>
    public bool Contended => _contended;

    /// <summary>Without the lock: the parked reader, if any, taken out of its slot.</summary>
    public bool TakeParkedReader(out PooledConnection connection)
    {
        connection = Volatile.Read(ref _parkedReader) is null ? null! : Interlocked.Exchange(ref _parkedReader, null)!;
        return connection is not null;
    }

    /// <summary>Under the lock: moves the parked reader, if any, to the idle stack.</summary>
    public void UnparkReader()
    {
        AssertHeld();
        if (TakeParkedReader(out var reader) && !_pool.CloseIfAbandoned(reader))
        {
            reader.IdleSince = _pool.Now;
            _idleReaders.Push(reader);
        }
    }

    /// <summary>Parks a reader a local lease gave back; false when the slot is taken.</summary>
    public bool TryParkReader(PooledConnection reader)
    {
        reader.HeldLocally = false;
        if (Interlocked.CompareExchange(ref _parkedReader, reader, null) is not null)
        {
            return false;
        }

        if (_contended)
        {
            // A caller began to wait, or the pool to close, while this reader was parked: it may have missed it.
            lock (_lock)
            {
                Dispatch();
            }
        }

        return true;
    }

    /// <summary>Under the lock: stops parking. The fence keeps the slot's next read after the flag's write, the
    /// other half of the handshake with <see cref="TryParkReader"/>.</summary>
    private void Contend()
    {
        _contended = true;
        Interlocked.MemoryBarrier();
    }
}
