using System.Collections.Concurrent;
using SqlitePool.Diagnostics;

namespace SqlitePool.Engine;

public sealed partial class DatabasePool
{
    private const int RememberedEndedLeases = 4096;
    private readonly ConcurrentDictionary<LeaseId, PoolLease> _leases = new();
    private readonly ConcurrentDictionary<LeaseId, string> _endedLeases = new();

    internal DateTimeOffset Now => _time.GetUtcNow();

    /// <summary>Acquires a lease. Reader leases open a read transaction so their statements share one snapshot.</summary>
    /// <exception cref="DatabaseTimeoutException">Not granted within <see cref="Hosting.DatabaseOptions.AcquireTimeout"/>.</exception>
    /// <exception cref="DatabaseOverloadedException">The wait queue is full.</exception>
    /// <exception cref="DatabaseClosedException">The pool is closed.</exception>
    public Task<PoolLease> AcquireAsync(LeaseKind kind, CancellationToken cancellationToken = default) =>
        AcquireAsync(kind, LeaseHolder.Unknown, cancellationToken);

    /// <inheritdoc cref="AcquireAsync(LeaseKind, CancellationToken)"/>
    /// <param name="kind">What to lease.</param>
    /// <param name="holder">Who will hold the lease (shown in statistics; used to revoke it).</param>
    /// <param name="cancellationToken">Stops waiting.</param>
    public async Task<PoolLease> AcquireAsync(LeaseKind kind, LeaseHolder holder, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(holder);
        var connection = await AcquireConnectionAsync(kind, cancellationToken).ConfigureAwait(false);
        PoolLease lease;
        try
        {
            if (kind == LeaseKind.Reader)
            {
                await connection.Worker.RunAsync(c => { StatementRunner.Exec(c.Handle!, "BEGIN"); return true; }, CancellationToken.None).ConfigureAwait(false);
            }

            lease = new PoolLease(this, connection, kind, holder, Now);
            _leases[lease.Id] = lease;
        }
        catch
        {
            ReleaseConnection(connection, kind);
            throw;
        }

        lock (_arbiter.Gate)
        {
            // Under the lock the close reads the leases under: one of the two sees the other.
            if (!IsClosed)
            {
                return lease;
            }
        }

        // Closed while the lease was being set up: the close did not see it, so end it here.
        await EndLeaseAsync(lease).ConfigureAwait(false);
        throw new DatabaseClosedException(Database);
    }

    /// <summary>
    /// Takes a reader or the writer for synchronous use on the calling thread (code on the owning silo).
    /// Returns at once when one is free; otherwise blocks, FIFO with every other caller, up to
    /// <see cref="Hosting.DatabaseOptions.AcquireTimeout"/>.
    /// </summary>
    /// <exception cref="DatabaseTimeoutException">Not granted in time.</exception>
    /// <exception cref="DatabaseClosedException">The pool is closed.</exception>
    public ConnectionLease AcquireLocal(LeaseKind kind)
    {
        if (kind == LeaseKind.Exclusive)
        {
            throw new ArgumentOutOfRangeException(nameof(kind), kind, "Exclusive access is taken with AcquireAsync.");
        }

        if (kind == LeaseKind.Reader && _arbiter.TakeParkedReader(out var parked))
        {
            _usedSinceSweep = _touched = true; // no lock on this path: the next visit sees the use, and keeps the pool open
            if (IsClosed)
            {
                // Parked just as the pool began to close: it goes to the close instead.
                _arbiter.GiveBack(parked, kind);
                throw new DatabaseClosedException(Database);
            }

            TakenAtOnce(parked);
            parked.HeldLocally = true;
            return new ConnectionLease(this, parked, kind);
        }

        PooledConnection? connection;
        lock (_arbiter.Gate)
        {
            // The common case: a connection is free and nobody waits ahead.
            if (!_arbiter.TryTake(kind, out connection, out var openReader) && openReader)
            {
                _arbiter.ReaderOpenEnded(opened: null);
            }

            connection?.HeldLocally = true;
        }

        if (connection is null)
        {
            // Otherwise this thread waits its turn like every other caller.
            connection = AcquireConnectionAsync(kind, CancellationToken.None).GetAwaiter().GetResult();
            lock (_arbiter.Gate)
            {
                connection.HeldLocally = true;
            }
        }

        return new ConnectionLease(this, connection, kind);
    }

    internal void ReturnLocal(PooledConnection connection, LeaseKind kind)
    {
        try
        {
            connection.ResetAfterLease(_changes);
        }
        finally
        {
            // Whatever the cleaning met, the connection goes back: a lease that never returned would hold it for good.
            Metrics?.Used(connection.TakenAt);
            if (kind != LeaseKind.Reader || _arbiter.Contended || !_arbiter.TryParkReader(connection))
            {
                _arbiter.GiveBack(connection, kind);
            }
        }

        // A lease that outlived the close: its connection closes now, and (for the writer) the lock file goes with it.
        connection.Closed?.GetAwaiter().GetResult();
    }

    /// <summary>Finds a live lease.</summary>
    /// <exception cref="LeaseNotFoundException">Unknown, released, revoked or expired.</exception>
    public PoolLease GetLease(LeaseId id) =>
        _leases.TryGetValue(id, out var lease) ? lease : throw new LeaseNotFoundException(Database, id, _endedLeases.GetValueOrDefault(id));

    /// <summary>Ends a lease; an open transaction is rolled back. Unknown or ended leases are ignored.</summary>
    public Task ReleaseAsync(LeaseId id) =>
        _leases.TryGetValue(id, out var lease) ? EndLeaseAsync(lease) : Task.CompletedTask;

    /// <summary>The leases held now and their holders.</summary>
    public IReadOnlyList<(LeaseId Id, LeaseHolder Holder)> HeldLeases() => [.. _leases.Values.Select(l => (l.Id, l.Holder))];

    /// <summary>Ends a lease its holder can no longer release (its silo left, its client went away): its
    /// transaction is rolled back and the holder's later calls get <see cref="LeaseNotFoundException"/> saying why.</summary>
    /// <returns>False when the lease had already ended.</returns>
    public async Task<bool> RevokeAsync(LeaseId id, string reason)
    {
        ArgumentException.ThrowIfNullOrEmpty(reason);
        var ending = "was revoked: " + reason;
        if (!_leases.TryGetValue(id, out var lease) || !lease.TryEnd(ending))
        {
            return false;
        }

        Remember(id, ending);
        Interlocked.Increment(ref _revoked);
        await FinishLeaseAsync(lease).ConfigureAwait(false);
        return true;
    }

    internal void CountStatement(LeaseKind kind)
    {
        if (kind == LeaseKind.Reader)
        {
            Interlocked.Increment(ref _reads);
        }
        else
        {
            Interlocked.Increment(ref _writes);
        }
    }

    internal async Task EndLeaseAsync(PoolLease lease)
    {
        if (!lease.TryEnd())
        {
            return;
        }

        await FinishLeaseAsync(lease).ConfigureAwait(false);
    }

    private async Task FinishLeaseAsync(PoolLease lease)
    {
        _leases.TryRemove(lease.Id, out _);

        // Queued behind any statement still running on the lease; rolls back what it left open.
        try
        {
            await lease.Connection.Worker.RunAsync(_ => { lease.Connection.ResetAfterLease(_changes); return true; }, CancellationToken.None).ConfigureAwait(false);
        }
        finally
        {
            ReleaseConnection(lease.Connection, lease.Kind);
        }
    }

    private void ExpireIdleLeases()
    {
        var now = Now;
        foreach (var lease in _leases.Values)
        {
            if (lease.TryExpire(now, _options.LeaseIdleTimeout, _options.MaxLeaseHoldTime) is { } expiry)
            {
                Remember(lease.Id, expiry);
                Interlocked.Increment(ref _expired);
                PoolLog.LeaseExpired(Logger, lease.Id, lease.Kind, Database, lease.Holder, expiry);
                _ = FinishLeaseAsync(lease);
            }
        }
    }

    private void Remember(LeaseId id, string ending)
    {
        if (_endedLeases.Count >= RememberedEndedLeases)
        {
            _endedLeases.Clear();
        }

        _endedLeases[id] = ending;
    }
}
