namespace SqlitePool.Engine;

/// <summary>
/// The silo-local lease's fast path. A reader given back by a local lease while nobody waits is parked in one
/// slot beside the arbitration state, and the next local reader lease takes it without the lock: the common
/// take-and-return around one query touches one field instead of the lock, the queues and the idle stack.
/// </summary>
/// <remarks>
/// A parked reader is idle. Under <c>_sync</c> it counts as busy until <see cref="UnparkReader"/> moves it to the
/// idle stack, which everything that grants readers or counts them does first. Parking stops while
/// <c>_contended</c> is set: when a reader caller found none free, when exclusive access is wanted or held, and
/// when the pool closes. Setting the flag and then reading the slot on one side, and filling the slot and then
/// reading the flag on the other, each with a full fence between, means a reader parked in a race with a new
/// waiter is seen by one of the two.
/// </remarks>
public sealed partial class DatabasePool
{
    private PooledConnection? _parkedReader;

    /// <summary>Set under <c>_sync</c>; cleared by <see cref="Dispatch"/> once no reader caller waits, exclusive access
    /// is neither wanted nor held and the pool is open.</summary>
    private volatile bool _contended;

    /// <summary>Under <c>_sync</c>: stops parking. The fence keeps the slot's next read after the flag's write, the
    /// other half of the handshake with <see cref="TryParkReader"/>.</summary>
    private void Contend()
    {
        _contended = true;
        Interlocked.MemoryBarrier();
    }

    private bool TakeParkedReader(out PooledConnection connection)
    {
        connection = Volatile.Read(ref _parkedReader) is null ? null! : Interlocked.Exchange(ref _parkedReader, null)!;
        return connection is not null;
    }

    /// <summary>Under <c>_sync</c>: moves the parked reader, if any, to the idle stack.</summary>
    private void UnparkReader()
    {
        if (TakeParkedReader(out var reader) && !CloseIfAbandoned(reader))
        {
            reader.IdleSince = Now;
            _idleReaders.Push(reader);
        }
    }

    /// <summary>Parks a reader a local lease gave back; false when the slot is taken.</summary>
    private bool TryParkReader(PooledConnection reader)
    {
        reader.HeldLocally = false;
        if (Interlocked.CompareExchange(ref _parkedReader, reader, null) is not null)
        {
            return false;
        }

        if (_contended)
        {
            // A caller began to wait, or the pool to close, while this reader was parked: it may have missed it.
            lock (_sync)
            {
                Dispatch();
            }
        }

        return true;
    }
}
