using SqlitePool.Diagnostics;

namespace SqlitePool.Engine.Backup;

/// <summary>A snapshot as it is stored: its encoded segment, the transaction it holds the database after, and when
/// that committed.</summary>
internal sealed record SnapshotImage(byte[] Encoded, long Transaction, DateTimeOffset CommittedAt);

/// <summary>Takes a snapshot on the writer, waiting its turn; <c>restart</c>: the chain goes on from it
/// (<see cref="BackupShipper.Rebase"/>).</summary>
internal delegate Task<SnapshotImage?> SnapshotTaker(bool restart, CancellationToken cancellationToken);

internal sealed partial class BackupShipper
{
    private const long MaxSegmentBytes = 16L << 20;
    private static readonly TimeSpan FirstBackoff = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan LastBackoff = TimeSpan.FromSeconds(2);

    private readonly CancellationTokenSource _stop = new();
    private readonly SemaphoreSlim _wake = new(0);
    private readonly SemaphoreSlim _turn = new(1, 1); // one step of the uploader, or one maintenance asked for, at a time
    private int _woken;
    private volatile bool _flushing;
    private Task _loop = Task.CompletedTask;
    private SnapshotTaker _takeSnapshot = null!;
    private readonly BackupCatalog _catalog = new(); // touched only in a turn (_turn)
    private SnapshotImage? _owedSnapshot; // a snapshot the chain restarted from, not stored yet: nothing ships before it
    private IReadOnlyList<string>? _listedAtOpen; // the target's keys as the open listed them
    private volatile bool _closing;
    private bool _shippingStopped; // under _gate: the uploader has ended; no caller may wait for it

    /// <summary>The highest transaction any stored object names (a snapshot that restarts the chain goes past it, so
    /// that no id means two states).</summary>
    public long StoredFloor { get; private set; }

    /// <summary>Called once the stored chain is of this database's content (it went on from the chain, or a snapshot
    /// restarted it): its lock file's mark stops saying otherwise.</summary>
    public Action? ChainConfirmed { get; set; }

    /// <summary>Starts shipping; <paramref name="takeSnapshot"/> takes the pool's snapshots.</summary>
    public void Start(SnapshotTaker takeSnapshot)
    {
        _takeSnapshot = takeSnapshot;
        _loop = Task.Run(RunAsync);
    }

    /// <summary>Ships everything captured so far now, and waits (up to <paramref name="limit"/>) until it is stored.</summary>
    /// <exception cref="BackupNotStoredException">Not everything was stored in time.</exception>
    public async Task FlushAsync(TimeSpan limit)
    {
        long captured;
        lock (_gate)
        {
            captured = _captured;
        }

        _flushing = true;
        try
        {
            await WaitStoredAsync(captured, limit).ConfigureAwait(false);
        }
        finally
        {
            _flushing = false;
        }
    }

    /// <summary>As the database closes (nothing commits any more): ships what is pending, waiting up to
    /// <paramref name="limit"/>, then stops. Callers still waiting for their commit to be stored get
    /// <see cref="BackupNotStoredException"/>.</summary>
    public async Task StopAsync(TimeSpan limit)
    {
        _closing = true;
        try
        {
            // Not while the target fails or the chain must restart from a snapshot not taken yet (no writer is left to
            // take it; one already taken is stored first): the next open ships it. A loop that ends meanwhile fails
            // the flush at once.
            if (!_paused && Volatile.Read(ref _failure) is null && !_loop.IsCompleted)
            {
                await FlushAsync(limit).ConfigureAwait(false);
            }
        }
        catch (BackupNotStoredException)
        {
            // Left for the next open: its chain starts again with a snapshot.
        }

        await _stop.CancelAsync().ConfigureAwait(false);
        try
        {
            await _loop.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }

        FailWaiters();
        _periodic = null;
    }

    // Once shipping has stopped: every caller still waiting, and any that starts to, is told its commit is not stored.
    private void FailWaiters()
    {
        lock (_gate)
        {
            _shippingStopped = true;
            while (_waiters.TryDequeue(out var waiter, out var transaction))
            {
                waiter.TrySetException(new BackupNotStoredException(Name, transaction, TimeSpan.Zero, "the database closed before it was stored"));
            }
        }
    }

    private void Wake()
    {
        if (Interlocked.Exchange(ref _woken, 1) == 0)
        {
            _wake.Release();
        }
    }

    private async Task RunAsync()
    {
        try
        {
            await ShipUntilStoppedAsync().ConfigureAwait(false);
        }
        finally
        {
            FailWaiters();
        }
    }

    private async Task ShipUntilStoppedAsync()
    {
        var token = _stop.Token;
        var backoff = FirstBackoff;
        while (!token.IsCancellationRequested)
        {
            bool worked;
            try
            {
                worked = await StepAsync(token).ConfigureAwait(false);
                Succeeded();
                backoff = FirstBackoff;
            }
            catch (Exception) when (token.IsCancellationRequested)
            {
                break;
            }
            catch (DatabaseClosedException)
            {
                // A snapshot the closed pool cannot take: no more are tried (MaintainAsync stops once closing). Only a
                // chain that needs one to go on stops here; otherwise what is captured still ships (StopAsync's flush).
                _closing = true;
                if (_paused || _owedSnapshot is not null || Interlocked.Read(ref _stored) < 0)
                {
                    break;
                }

                continue;
            }
            catch (Exception ex)
            {
                Failed(ex);
                try
                {
                    // A caller that starts to wait (or a flush) cuts the wait short, after a moment.
                    await Task.Delay(FirstBackoff, token).ConfigureAwait(false);
                    await _wake.WaitAsync(backoff - FirstBackoff, token).ConfigureAwait(false);
                    Interlocked.Exchange(ref _woken, 0);
                }
                catch (OperationCanceledException)
                {
                    break;
                }

                backoff = backoff * 2 > LastBackoff ? LastBackoff : backoff * 2;
                continue;
            }

            if (!worked)
            {
                try
                {
                    await _wake.WaitAsync(NextLook(), token).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    break;
                }

                Interlocked.Exchange(ref _woken, 0);
            }
        }
    }

    // One thing to do, in order: learn the stored chain, restart it, ship what is due, maintain. False: nothing was due.
    private async Task<bool> StepAsync(CancellationToken token)
    {
        await _turn.WaitAsync(token).ConfigureAwait(false);
        try
        {
            return await StepCoreAsync(token).ConfigureAwait(false);
        }
        finally
        {
            _turn.Release();
        }
    }

    private async Task<bool> StepCoreAsync(CancellationToken token)
    {
        if (Interlocked.Read(ref _stored) < 0)
        {
            await LoadChainAsync(token).ConfigureAwait(false);
            return true;
        }

        if (_paused || _owedSnapshot is not null)
        {
            await SnapshotAsync(restart: true, token).ConfigureAwait(false);
            return true;
        }

        if (TakeDue() is { } batch)
        {
            await ShipAsync(batch, token).ConfigureAwait(false);
            return true;
        }

        return await MaintainAsync(token).ConfigureAwait(false);
    }

    // How long to wait for a wake-up: until the oldest pending commit is due; with nothing pending, until the next
    // look at retention (a commit, a waiter or a flush wakes it sooner).
    private TimeSpan NextLook()
    {
        lock (_gate)
        {
            if (_pending.Count == 0)
            {
                return RetentionLookEvery;
            }

            var wait = _options.Interval - (_time.GetUtcNow() - _pending[0].Since);
            return wait < TimeSpan.FromMilliseconds(1) ? TimeSpan.FromMilliseconds(1) : wait > _options.Interval ? _options.Interval : wait;
        }
    }

    private async Task LoadChainAsync(CancellationToken token)
    {
        var keys = _listedAtOpen ?? await _target.ListAsync(Name + "/", token).ConfigureAwait(false);
        _listedAtOpen = null;
        var (snapshots, segments) = BackupChain.Parse(Name, keys);
        var end = ChainEnd(snapshots, segments);
        _catalog.Load(snapshots, segments);
        lock (_gate)
        {
            StoredFloor = BackupChain.HighestTransaction(Name, keys);
            if (end is { } stored && Trusted && stored == _openedWith && StoredFloor == stored)
            {
                Interlocked.Exchange(ref _stored, stored);
                BackupLog.Started(Logger, Name, $"goes on from transaction {stored}, stored before");
                CompleteWaiters(stored);
                ChainConfirmed?.Invoke();
                return;
            }

            Interlocked.Exchange(ref _stored, 0);
            if (_gap is null)
            {
                Gap(end is null ? "nothing is stored yet" : $"the stored chain ends at transaction {end}, the database opened at {_openedWith}{(Trusted ? "" : " from content the chain did not ship")}",
                    lost: end is not null);
            }
        }
    }

    // The last transaction the latest snapshot and the segments that continue it reach; null without a snapshot.
    private static long? ChainEnd(List<StoredObject> snapshots, List<StoredObject> segments)
    {
        if (snapshots.Count == 0)
        {
            return null;
        }

        var end = snapshots[^1].LastTransaction;
        while (segments.Where(s => s.FirstTransaction == end + 1).MaxBy(s => s.LastTransaction) is { } next)
        {
            end = next.LastTransaction;
        }

        return end;
    }

    /// <summary>Stores a restart's snapshot (taken once, kept until stored: capture goes on from it), or the periodic
    /// snapshot <paramref name="periodic"/> taken meanwhile.</summary>
    private async Task SnapshotAsync(bool restart, CancellationToken token, SnapshotImage? periodic = null)
    {
        var image = restart
            ? _owedSnapshot = _owedSnapshot ?? await _takeSnapshot(restart: true, token).ConfigureAwait(false) ?? throw new InvalidOperationException("No snapshot was taken.")
            : periodic!;

        var key = BackupChain.SnapshotKey(Name, image!.Transaction, image.CommittedAt);
        List<(long First, DateTimeOffset? At)> lost;
        lock (_gate)
        {
            lost = restart ? [.. _lost.Where(l => l.Key <= image.Transaction).Select(l => (l.Key, l.Value))] : [];

            // A first lost commit that was stored after all (its batch was in flight) makes no marker: a restore by
            // time across the gap then refuses rather than trust a wrong start.
            lost = [.. lost.Select(l => l.First <= Interlocked.Read(ref _stored) ? (l.First, null) : l)];
        }

        foreach (var (first, at) in lost.Where(l => l.At is not null))
        {
            // Before the snapshot: a restore to a time between the last stored commit and this snapshot learns from it
            // when the commits it cannot have began (without a marker, such a restore refuses).
            await _target.PutAsync(BackupChain.GapKey(Name, first, at!.Value), ReadOnlyMemory<byte>.Empty, token).ConfigureAwait(false);
        }

        await _target.PutAsync(key, image.Encoded, token).ConfigureAwait(false);
        _catalog.Add(new StoredObject(key, 1, image.Transaction, image.CommittedAt));
        lock (_gate)
        {
            Interlocked.Add(ref _storedBytes, image.Encoded.Length);
            if (restart)
            {
                _owedSnapshot = null;
                foreach (var (first, _) in lost)
                {
                    _lost.Remove(first);
                }

                // The lag runs on while a newer gap waits for its own restart.
                _unstoredSince = _paused ? _unstoredSince : null;
                ChainConfirmed?.Invoke();
                Interlocked.Exchange(ref _stored, Math.Max(image.Transaction, Interlocked.Read(ref _stored)));
            }

            // A periodic snapshot makes its transaction restorable (as the latest) once what precedes it is stored.
            if (image.Transaction > Interlocked.Read(ref _stored) && (_pending.Count == 0 || _pending[0].Record.FirstTransaction > image.Transaction))
            {
                Interlocked.Exchange(ref _stored, image.Transaction);
            }

            CompleteWaiters(Interlocked.Read(ref _stored));
        }

        BackupLog.Maintained(Logger, Name, $"stored a snapshot at transaction {image.Transaction} ({image.Encoded.Length} bytes){(restart ? "; the chain goes on from it" : "")}");
    }

    // The batch being stored (again, after a failure: the same records under the same key), or the pending records due
    // now (all of them when a caller waits or a flush asks), as one segment that spans no snapshot.
    private Batch? TakeDue()
    {
        lock (_gate)
        {
            if (_inFlight is not null || _pending.Count == 0 || _gap is not null)
            {
                return _gap is null ? _inFlight : null;
            }

            if (!(_flushing || _waiters.Count > 0 || _time.GetUtcNow() - _pending[0].Since >= _options.Interval))
            {
                return null;
            }

            var records = new List<BackupRecord> { _pending[0].Record };
            var bytes = Bytes(_pending[0].Record);
            for (var i = 1; i < _pending.Count; i++)
            {
                var record = _pending[i].Record;
                bytes += Bytes(record);
                if (bytes > MaxSegmentBytes || Crosses(records[^1], record))
                {
                    break;
                }

                records.Add(record);
            }

            _inFlight = new Batch(records, _pageSize, BackupChain.SegmentKey(Name, records[0], records[^1]));
            return _inFlight;
        }
    }

    private async Task ShipAsync(Batch batch, CancellationToken token)
    {
        // Encoded outside the lock the WAL hook takes on every commit (a segment is up to 16 MiB to hash), once.
        var encoded = batch.Encoded ??= BackupSegment.Encode(batch.PageSize, batch.Records);
        await _target.PutAsync(batch.Key, encoded, token).ConfigureAwait(false);
        var (first, last) = (batch.Records[0], batch.Records[^1]);
        _catalog.Add(new StoredObject(batch.Key, first.FirstTransaction, last.LastTransaction, last.CommittedAt));
        lock (_gate)
        {
            Interlocked.Add(ref _storedBytes, encoded.Length);
            if (ReferenceEquals(_inFlight, batch))
            {
                _pending.RemoveRange(0, batch.Records.Count);
                _pendingBytes = Math.Max(0, _pendingBytes - batch.Records.Sum(Bytes));
                _inFlight = null;
                _boundaries.RemoveWhere(b => b < last.LastTransaction);
            }

            // Restorable only when it continues what is stored.
            if (first.FirstTransaction <= Interlocked.Read(ref _stored) + 1 && last.LastTransaction > Interlocked.Read(ref _stored))
            {
                Interlocked.Exchange(ref _stored, last.LastTransaction);
                CompleteWaiters(last.LastTransaction);
            }
        }
    }

    // Under _gate.
    private void CompleteWaiters(long stored)
    {
        while (_waiters.TryPeek(out var waiter, out var transaction) && transaction <= stored)
        {
            _waiters.Dequeue();
            waiter.TrySetResult();
        }
    }

    private void Succeeded()
    {
        DateTimeOffset? since;
        lock (_gate)
        {
            since = _failingSince;
            _failure = null;
            _failingSince = null;
        }

        if (since is { } failing)
        {
            BackupLog.Resumed(Logger, Name, _time.GetUtcNow() - failing);
        }
    }

    private void Failed(Exception ex)
    {
        bool first;
        long pending;
        lock (_gate)
        {
            first = _failingSince is null;
            _failingSince ??= _time.GetUtcNow();
            _failure = $"{ex.GetType().Name}: {ex.Message}";
            pending = _pendingBytes;
        }

        if (first)
        {
            BackupLog.Failed(Logger, ex, Name, pending);
        }
    }
}
