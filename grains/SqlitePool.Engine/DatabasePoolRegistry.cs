using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using SqlitePool.Diagnostics;
using SqlitePool.Hosting;

namespace SqlitePool.Engine;

/// <summary>
/// The process-wide map of open pools, keyed by full file path: a file is opened by one pool at a time,
/// and concurrent first openers share one open (the open hook runs once).
/// </summary>
public sealed class DatabasePoolRegistry : IAsyncDisposable
{
    private readonly TimeProvider _time;
    private readonly SqlitePoolMetrics? _metrics;
    private readonly ILoggerFactory? _loggers;
    private readonly ILogger? _logger;
    private readonly ConcurrentDictionary<string, Lazy<Task<DatabasePool>>> _pools = new(StringComparer.Ordinal);

    // The clock the file budget's evictions sweep: every open pool, in the order opened; a pool leaves it as it closes.
    private readonly Lock _clockLock = new();
    private readonly LinkedList<DatabasePool> _clock = new();
    private LinkedListNode<DatabasePool>? _hand;
    private long _evictions;
    private long _roomWaits;
    private volatile bool _disposed;

    /// <summary>Creates the registry; its pools report to <paramref name="metrics"/> and log to <paramref name="loggers"/> when
    /// given, and run their SQLite work on <paramref name="scheduler"/> (default <see cref="SqliteScheduler.Shared"/>).</summary>
    /// <param name="timeProvider">The clock of every pool.</param>
    /// <param name="metrics">Where pools report.</param>
    /// <param name="loggers">Where pools log.</param>
    /// <param name="scheduler">The threads of their SQLite work.</param>
    /// <param name="fileBudget">The files the pools may hold together (default three quarters of the process's limit).</param>
    public DatabasePoolRegistry(TimeProvider timeProvider, SqlitePoolMetrics? metrics = null, ILoggerFactory? loggers = null, SqliteScheduler? scheduler = null, OpenFileBudget? fileBudget = null)
    {
        FileBudget = fileBudget ?? OpenFileBudget.FromProcessLimit();
        _time = timeProvider;
        _metrics = metrics;
        _loggers = loggers;
        _logger = loggers?.CreateLogger<DatabasePoolRegistry>();
        Scheduler = scheduler ?? SqliteScheduler.Shared;
        metrics?.Observe(() => OpenPools);
    }

    /// <summary>The files the open pools hold, and may hold.</summary>
    public OpenFileBudget FileBudget { get; }

    /// <summary>Databases closed so far to make room for others under <see cref="FileBudget"/>.</summary>
    public long Evictions => Interlocked.Read(ref _evictions);

    /// <summary>Times an open waited a moment for room because every open database was in use (or being closed).</summary>
    public long RoomWaits => Interlocked.Read(ref _roomWaits);

    /// <summary>The threads the pools' SQLite work runs on.</summary>
    public SqliteScheduler Scheduler { get; }

    /// <summary>How many pools a stop closes at once (each close is a checkpoint and a few file closes, run on the
    /// scheduler's threads): enough to keep the disk busy, few enough that every close gets on.</summary>
    public const int ClosesAtOnce = 64;

    /// <summary>The open pool of a file, or the one being opened; a failed open is forgotten so the next call retries.
    /// A pool that is closing is never handed out: its files are released only once its close ends, so the next open
    /// waits for that (at most its <see cref="DatabaseOptions.CloseTimeout"/>, twice) and then opens the file anew.</summary>
    public async Task<DatabasePool> GetOrOpenAsync(string database, string fullPath, DatabaseOptions options, Action<DatabaseOpenContext>? onOpened)
    {
        while (true)
        {
            if (_disposed)
            {
                throw new DatabaseClosedException(database);
            }

            var entry = _pools.GetOrAdd(fullPath, _ => new Lazy<Task<DatabasePool>>(() => OpenAsync(database, fullPath, options, onOpened)));
            var pool = await entry.Value.ConfigureAwait(false);
            if (_disposed)
            {
                // Opened as the silo stopped, after its pools were closed: nobody else would close it.
                await pool.CloseAsync().ConfigureAwait(false);
                throw new DatabaseClosedException(database);
            }

            if (!pool.IsClosed)
            {
                return pool;
            }

            await pool.CloseAsync().ConfigureAwait(false);
            _pools.TryRemove(KeyValuePair.Create(fullPath, entry));
        }
    }

    /// <summary>The open pool of a file, or null (also while it closes).</summary>
    public DatabasePool? Find(string fullPath) =>
        _pools.TryGetValue(fullPath, out var entry) && entry.IsValueCreated && entry.Value.IsCompletedSuccessfully && !entry.Value.Result.IsClosed
            ? entry.Value.Result
            : null;

    /// <summary>The pools open now.</summary>
    public IReadOnlyList<DatabasePool> OpenPools =>
        [.. _pools.Values.Where(e => e.IsValueCreated && e.Value.IsCompletedSuccessfully).Select(e => e.Value.Result)];

    /// <summary>Closes every pool, those still opening included, <see cref="ClosesAtOnce"/> at a time, logging progress
    /// every second; later opens are refused.</summary>
    public async ValueTask DisposeAsync()
    {
        _disposed = true;
        Interlocked.MemoryBarrier();
        var opened = _pools.Values.Where(e => e.IsValueCreated).Select(e => e.Value).ToList();
        var closed = 0;
        var started = _time.GetTimestamp();
        var lastReport = started;
        await Parallel.ForEachAsync(opened, new ParallelOptions { MaxDegreeOfParallelism = ClosesAtOnce }, async (opening, _) =>
        {
            await CloseAsync(opening).ConfigureAwait(false);
            var done = Interlocked.Increment(ref closed);
            var now = _time.GetTimestamp();
            var last = Volatile.Read(ref lastReport);
            if (_logger is not null && _time.GetElapsedTime(last, now) >= TimeSpan.FromSeconds(1) && Interlocked.CompareExchange(ref lastReport, now, last) == last)
            {
                PoolLog.ShutdownProgress(_logger, done, opened.Count, _time.GetElapsedTime(started, now));
            }
        }).ConfigureAwait(false);
        if (_logger is not null && opened.Count > 0)
        {
            PoolLog.ShutdownProgress(_logger, closed, opened.Count, _time.GetElapsedTime(started));
        }

        static async Task CloseAsync(Task<DatabasePool> opening)
        {
            try
            {
                await (await opening.ConfigureAwait(false)).CloseAsync().ConfigureAwait(false);
            }
            catch (Exception)
            {
                // An open that failed has nothing to close; a failing close logged its own error.
            }
        }
    }

    private async Task<DatabasePool> OpenAsync(string database, string fullPath, DatabaseOptions options, Action<DatabaseOpenContext>? onOpened)
    {
        try
        {
            await ReserveRoomAsync().ConfigureAwait(false);
            DatabasePool pool;
            try
            {
                pool = await DatabasePool.OpenAsync(database, fullPath, options, _time, onOpened, onClosed: Forget, Scheduler).ConfigureAwait(false);
            }
            catch
            {
                FileBudget.Add(-OpenFileBudget.PerDatabase);
                throw;
            }

            pool.Metrics = _metrics is null ? null : new PoolMetrics(_metrics, database, _time);
            pool.Logger = _loggers?.CreateLogger<DatabasePool>() ?? pool.Logger;
            if (pool.AutoRestored is { } restored)
            {
                BackupLog.AutoRestored(pool.Logger, database, restored.Transaction, restored.CommittedAt, restored.ObjectsRead);
            }

            if (pool.TransactionIdsJumped)
            {
                PoolLog.TransactionIdsJumped(pool.Logger, database, pool.TransactionId);
            }

            pool.FileBudget = FileBudget;
            lock (_clockLock)
            {
                if (!pool.IsClosed)
                {
                    pool.ClockEntry = _clock.AddLast(pool);
                }
            }

            return pool;
        }
        catch
        {
            // Nobody can have replaced the entry: it stays in the map until removed here.
            _pools.TryRemove(fullPath, out _);
            throw;
        }
    }

    /// <summary>How long an open waits for room under the file budget while every open database is in use; then it
    /// opens all the same (and may find the process out of files: a typed error, not a crash).</summary>
    public static readonly TimeSpan RoomWait = TimeSpan.FromSeconds(5);

    /// <summary>Reserves the files of a database about to open (its first reader's included). Past the file budget,
    /// closes databases nobody is using, least recently used first (a clock sweep: a pool used since the hand last
    /// passed is skipped once); while every open database is in use, tries again every few milliseconds, up to
    /// <see cref="RoomWait"/>, and then takes the files all the same.</summary>
    private async Task ReserveRoomAsync()
    {
        const int files = OpenFileBudget.PerDatabase;
        var started = _time.GetTimestamp();
        while (!FileBudget.TryReserve(files))
        {
            if (_time.GetElapsedTime(started) >= RoomWait)
            {
                FileBudget.Add(files);
                return;
            }

            if (!await EvictAsync(files).ConfigureAwait(false))
            {
                Interlocked.Increment(ref _roomWaits);
                await Task.Delay(TimeSpan.FromMilliseconds(5), _time).ConfigureAwait(false);
            }
        }
    }

    /// <summary>One sweep of the clock: closes idle databases holding at least <paramref name="files"/> (each opener
    /// makes its own room: room another eviction frees may go to another opener) and waits for their closes.</summary>
    /// <returns>False when it found none to close.</returns>
    private async Task<bool> EvictAsync(int files)
    {
        List<Task> closes = [];
        lock (_clockLock)
        {
            var need = Math.Max(files, FileBudget.Used + files - FileBudget.Limit);
            var node = _hand?.List is null ? _clock.First : _hand;
            for (var steps = 2 * _clock.Count; need > 0 && steps > 0 && node is not null; steps--)
            {
                var pool = node.Value;
                var next = node.Next ?? _clock.First;
                if (!pool.TakeTouched() && pool.RetireIfQuiet() is { } close)
                {
                    closes.Add(close);
                    need -= pool.OpenFiles;
                    Unlink(pool);
                    next = next == node ? null : next;
                }

                node = next;
            }

            _hand = node;
        }

        foreach (var close in closes)
        {
            try
            {
                await close.ConfigureAwait(false);
            }
            catch (Exception)
            {
                // A failing close logged its own error; its files are released all the same.
            }
            finally
            {
                Interlocked.Increment(ref _evictions);
            }
        }

        return closes.Count > 0;
    }

    // Under _clockLock.
    private void Unlink(DatabasePool pool)
    {
        if (pool.ClockEntry is { List: not null } entry)
        {
            if (_hand == entry)
            {
                _hand = entry.Next;
            }

            _clock.Remove(entry);
        }
    }

    private void Forget(DatabasePool pool)
    {
        lock (_clockLock)
        {
            Unlink(pool);
        }

        if (_pools.TryGetValue(pool.Path, out var entry) && entry.IsValueCreated && entry.Value.IsCompletedSuccessfully && entry.Value.Result == pool)
        {
            _pools.TryRemove(new KeyValuePair<string, Lazy<Task<DatabasePool>>>(pool.Path, entry));
        }
    }
}
