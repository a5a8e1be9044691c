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
    private volatile bool _disposed;

    /// <summary>Creates the registry; its pools report to <paramref name="metrics"/> and log to <paramref name="loggers"/> when
    /// given, and run their SQLite work on <paramref name="scheduler"/> (default <see cref="SqliteScheduler.Shared"/>).</summary>
    public DatabasePoolRegistry(TimeProvider timeProvider, SqlitePoolMetrics? metrics = null, ILoggerFactory? loggers = null, SqliteScheduler? scheduler = null)
    {
        _time = timeProvider;
        _metrics = metrics;
        _loggers = loggers;
        _logger = loggers?.CreateLogger<DatabasePoolRegistry>();
        Scheduler = scheduler ?? SqliteScheduler.Shared;
        metrics?.Observe(() => OpenPools);
    }

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
            var pool = await DatabasePool.OpenAsync(database, fullPath, options, _time, onOpened, onClosed: Forget, Scheduler).ConfigureAwait(false);
            pool.Metrics = _metrics is null ? null : new PoolMetrics(_metrics, database, _time);
            pool.Logger = _loggers?.CreateLogger<DatabasePool>() ?? pool.Logger;
            return pool;
        }
        catch
        {
            // Nobody can have replaced the entry: it stays in the map until removed here.
            _pools.TryRemove(fullPath, out _);
            throw;
        }
    }

    private void Forget(DatabasePool pool)
    {
        if (_pools.TryGetValue(pool.Path, out var entry) && entry.IsValueCreated && entry.Value.IsCompletedSuccessfully && entry.Value.Result == pool)
        {
            _pools.TryRemove(new KeyValuePair<string, Lazy<Task<DatabasePool>>>(pool.Path, entry));
        }
    }
}
