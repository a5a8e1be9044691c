using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using SqlitePool.Diagnostics;

namespace SqlitePool.Engine.Backup;

/// <summary>
/// Ships one database's committed transactions to its backup target, continuously. The writer's WAL hook hands each
/// commit over as it happens (<see cref="Committed"/>): its frames are read back through SQLite's handle of the log and
/// kept in memory as one record, with the commit's transaction id and time, before any checkpoint can copy them away.
/// An uploader (<see cref="RunAsync"/>) stores what is pending as one segment at least every
/// <see cref="BackupOptions.Interval"/>, at once when a caller waits for it (<see cref="BackupOptions.AckAfterBackup"/>),
/// and keeps the chain: a snapshot when it starts or cannot go on, and periodically; compaction; retention.
/// </summary>
/// <remarks>
/// The chain is valid while every transaction since its snapshot was captured, which the count proves: the hook counts
/// commits, and a capture must find exactly the commits counted since the last. Anything else (a hook that was
/// replaced, an id jump, a read failure, changes dropped while the target was away) is a gap: capture stops and the
/// uploader takes a snapshot on the writer, from which capture goes on (<see cref="Rebase"/>).
/// Locking: <c>_gate</c> guards the pending records, the waiters and the counters; the log position is the writer's
/// (the hook and a snapshot's capture both run holding it). No target call runs under the lock.
/// </remarks>
internal sealed partial class BackupShipper
{
    private readonly Lock _gate = new();
    private readonly BackupOptions _options;
    private readonly IBackupTarget _target;
    private readonly TimeProvider _time;
    private readonly List<Pending> _pending = [];
    private readonly PriorityQueue<TaskCompletionSource, long> _waiters = new();
    private readonly SortedSet<long> _boundaries = []; // snapshots' transactions no segment may span (a segment starts after each)
    private long _pendingBytes;
    private Batch? _inFlight; // the pending records at the head being stored: kept as they are until stored
    private long _captured; // the last transaction captured (pending or stored)
    private WalPosition? _position; // the log's position after it (writer only)
    private int _pageSize;
    private string? _gap; // why the chain needs a snapshot before it can go on (capture is paused), or null
    private volatile bool _paused;
    private long _stored = -1; // the last transaction the target can restore to; -1 until the chain is known
    private long _storedBytes;
    private string? _failure;
    private DateTimeOffset? _failingSince;
    private DateTimeOffset? _unstoredSince; // the oldest commit dropped from memory that no stored snapshot holds yet
    private readonly long _openedWith; // the transactions committed when the database opened
    private readonly SortedList<long, DateTimeOffset?> _lost = []; // per gap: the first commit lost and when (if known), until a restart stores its marker
    private bool _gapOpen; // a gap since the last restart's capture: its first lost commit is noted

    /// <param name="name">The database's name in the target (its pool's key).</param>
    /// <param name="options">The settings; <see cref="BackupOptions.Target"/> is set.</param>
    /// <param name="time">The pool's clock.</param>
    /// <param name="transactions">The transactions committed when the database opened.</param>
    /// <param name="logEnd">The position after the log's last commit at the open, or null when there is no log.</param>
    /// <param name="trusted">Whether the database and its count are the ones a stored chain that ends at
    /// <paramref name="transactions"/> was shipped from (the count was certain and the file existed): only then does the
    /// chain go on without a snapshot.</param>
    /// <param name="listed">The target's keys under the name, as the open listed them (null: list them first).</param>
    public BackupShipper(string name, BackupOptions options, TimeProvider time, long transactions, WalPosition? logEnd, bool trusted, IReadOnlyList<string>? listed = null)
    {
        _listedAtOpen = listed;
        Name = name;
        _options = options;
        _target = options.Target ?? throw new ArgumentException("A continuous backup needs a target.", nameof(options));
        _time = time;
        _captured = _openedWith = transactions;
        _position = logEnd;
        Trusted = trusted;
    }

    /// <summary>The database's name in the target.</summary>
    public string Name { get; }

    /// <summary>Whether writes wait for their commit to be stored.</summary>
    public bool AckAfterBackup => _options.AckAfterBackup;

    /// <summary>Where events are logged.</summary>
    public ILogger Logger { get; set; } = NullLogger.Instance;

    private bool Trusted { get; }

    /// <summary>On the writer, in its WAL hook, right after transaction <paramref name="transaction"/> committed at
    /// <paramref name="committedAt"/>: captures its frames from the log (<paramref name="db"/> is the writer's handle).</summary>
    /// <remarks>Nothing may leave a native callback: any failure is a gap.</remarks>
    public void Committed(IntPtr db, long transaction, DateTimeOffset committedAt)
    {
        if (_paused)
        {
            return;
        }

        try
        {
            var read = WalReader.Read((buffer, offset) => SqliteLogFile.TryRead(db, buffer, offset), _position);
            Capture(read, transaction, committedAt);
        }
        catch (Exception ex)
        {
            lock (_gate)
            {
                // The commit's time is the first lost one's only when no commit before it went uncaptured.
                Gap($"the log could not be read back ({ex.GetType().Name}: {ex.Message})", transaction == _captured + 1 ? committedAt : null);
            }
        }
    }

    private void Capture(WalRead read, long transaction, DateTimeOffset committedAt)
    {
        lock (_gate)
        {
            if (_gap is not null)
            {
                return;
            }

            var expected = transaction - _captured;
            if (read.Header is not { } header || read.Transactions.Count != expected || !read.PositionFound)
            {
                Gap($"the log held {read.Transactions.Count} new commit(s) where {expected} were counted", expected == 1 ? committedAt : null);
                return;
            }

            if (_pending.Count > 0 && header.PageSize != _pageSize)
            {
                Gap("the page size changed", committedAt);
                return;
            }

            _pageSize = header.PageSize;
            if (_pending.Count == 0)
            {
                // The uploader of an idle database sleeps long: the first commit to ship wakes it.
                Wake();
            }

            for (var i = 0; i < read.Transactions.Count; i++)
            {
                var record = BackupRecord.Of(_captured + 1 + i, committedAt, read.Transactions[i]);
                _pending.Add(new Pending(record, committedAt));
                _pendingBytes += Bytes(record);
            }

            _position = read.Transactions[^1].End;
            _captured = transaction;
            if (_pendingBytes > _options.MaxPendingBytes)
            {
                Squash();
            }
        }
    }

    /// <summary>On the writer, as a snapshot at <paramref name="transaction"/> is captured (nothing commits meanwhile):
    /// no segment will span it; and when <paramref name="restart"/>, the chain goes on from it (what was pending is in
    /// the snapshot), capturing from <paramref name="logEnd"/>.</summary>
    public void Rebase(long transaction, WalPosition? logEnd, int pageSize, bool restart)
    {
        lock (_gate)
        {
            _boundaries.Add(transaction);
            if (!restart)
            {
                return;
            }

            DropPending();
            _captured = transaction;
            _position = logEnd;
            _pageSize = pageSize;
            _gap = null;
            _gapOpen = false;
            _paused = false;
        }
    }

    /// <summary>Completes once <paramref name="transaction"/> is stored in the target.</summary>
    /// <exception cref="BackupNotStoredException">It was not stored within <see cref="BackupOptions.AckTimeout"/>.</exception>
    public Task WaitStoredAsync(long transaction) => WaitStoredAsync(transaction, _options.AckTimeout);

    private async Task WaitStoredAsync(long transaction, TimeSpan limit)
    {
        TaskCompletionSource waiter;
        lock (_gate)
        {
            if (Interlocked.Read(ref _stored) >= transaction)
            {
                return;
            }

            if (_shippingStopped)
            {
                throw new BackupNotStoredException(Name, transaction, TimeSpan.Zero, "the database closed before it was stored");
            }

            waiter = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _waiters.Enqueue(waiter, transaction);
        }

        Wake();
        try
        {
            await waiter.Task.WaitAsync(limit, _time).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            throw new BackupNotStoredException(Name, transaction, limit, Volatile.Read(ref _failure) ?? "the target has not answered yet");
        }
    }

    /// <summary>The backup's state for statistics.</summary>
    public BackupStatistics GetStatistics()
    {
        lock (_gate)
        {
            var stored = Interlocked.Read(ref _stored);
            var since = _unstoredSince ?? (_pending.Count == 0 ? null : _pending[0].Since);
            var lag = since is { } first && _time.GetUtcNow() - first is { Ticks: > 0 } age ? age : TimeSpan.Zero;
            var late = TimeSpan.FromTicks(Math.Max(TimeSpan.FromSeconds(5).Ticks, _options.Interval.Ticks * 10));
            var problem = _failure ?? (_gap is null ? null : "restarting the chain: " + _gap)
                ?? (lag > late ? $"nothing stored for {lag.TotalSeconds:0.#} s (the target has not answered)" : null);
            return new BackupStatistics(stored < 0 ? null : stored, _captured, lag, _pendingBytes, Interlocked.Read(ref _storedBytes), problem, _failingSince);
        }
    }

    // The memory a pending record holds: its frames, headers and pages.
    private long Bytes(BackupRecord record) => record.Pages.Count * (long)(WalFormat.FrameHeaderSize + _pageSize);

    // Under _gate: capture stops until a snapshot restarts the chain. The first commit lost to the chain, and when it
    // was made where that is known (the commit being captured, or the oldest pending), are kept for a gap marker.
    private void Gap(string reason, DateTimeOffset? committedAt = null, bool lost = true)
    {
        if (lost && !_gapOpen)
        {
            var (first, at) = _pending.Count > 0 ? (_pending[0].Record.FirstTransaction, _pending[0].Since) : (_captured + 1, committedAt);
            _lost.TryAdd(first, at);
        }

        _gapOpen = true;

        if (_gap is null)
        {
            try
            {
                BackupLog.ChainBroken(Logger, Name, reason);
            }
            catch (Exception)
            {
                // Called from the WAL hook: nothing may leave it, a failing logger included.
            }
        }

        _gap = reason;
        _paused = true;
        DropPending();
        Wake();
    }

    // Under _gate: what is pending is dropped (a batch in flight, no longer the one in flight, then removes nothing); the lag counts on
    // from its oldest commit until a snapshot holds it.
    private void DropPending()
    {
        if (_pending.Count > 0)
        {
            _unstoredSince ??= _pending[0].Since;
        }

        _pending.Clear();
        _pendingBytes = 0;
        _inFlight = null;
    }

    // Under _gate, past MaxPendingBytes: the records not in flight become one per stretch between snapshots, the latest
    // image of each page (no point inside them can be restored then); if that is still too much, the chain restarts
    // once the target is back.
    private void Squash()
    {
        var at = _inFlight?.Records.Count ?? 0;
        while (at < _pending.Count)
        {
            // A stretch: the records up to the next boundary (or the end).
            var end = at + 1;
            while (end < _pending.Count && !Crosses(_pending[end - 1].Record, _pending[end].Record))
            {
                end++;
            }

            if (end - at > 1)
            {
                var stretch = _pending.GetRange(at, end - at);
                var merged = BackupRecord.Compact([.. stretch.Select(p => p.Record)]);
                merged = merged with { Pages = [.. merged.Pages.Select(p => (p.Page, (ReadOnlyMemory<byte>)p.Image.ToArray()))] };
                _pending.RemoveRange(at, end - at);
                _pending.Insert(at, new Pending(merged, stretch[0].Since));
            }

            at++;
        }

        _pendingBytes = _pending.Sum(p => Bytes(p.Record));
        if (_pendingBytes > _options.MaxPendingBytes)
        {
            Gap($"changes pending for the target passed MaxPendingBytes ({_options.MaxPendingBytes} bytes)");
        }
    }

    // Under _gate: true when a snapshot's transaction lies between two consecutive records (a segment must end there).
    private bool Crosses(BackupRecord before, BackupRecord after) =>
        _boundaries.GetViewBetween(before.LastTransaction, after.FirstTransaction - 1).Count > 0;

    /// <summary>A pending record, and when the oldest commit it holds was made (a merged record's first).</summary>
    private sealed record Pending(BackupRecord Record, DateTimeOffset Since);

    /// <summary>Pending records being stored as one segment, under one key, until they are (encoded once, outside the lock).</summary>
    private sealed class Batch(List<BackupRecord> records, int pageSize, string key)
    {
        public List<BackupRecord> Records { get; } = records;

        public int PageSize { get; } = pageSize;

        public string Key { get; } = key;

        public byte[]? Encoded { get; set; }
    }
}

/// <summary>A database's continuous backup: the last transaction a restore can reach (null until known), the last
/// captured, how far the target lags (time since the oldest commit not stored, and its bytes), the bytes stored since
/// the database opened, and why shipping is failing, since when (null when it is not).</summary>
internal sealed record BackupStatistics(long? StoredTransaction, long CapturedTransaction, TimeSpan Lag, long LagBytes, long StoredBytes, string? Problem, DateTimeOffset? FailingSince);
