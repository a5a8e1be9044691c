using System.Diagnostics;

namespace SqlitePool.Benchmarks;

/// <summary>One side of the tenant scenarios: many small databases, served by the pool or by plain Microsoft.Data.Sqlite.</summary>
internal interface ITenantSide : IAsyncDisposable
{
    /// <summary>Whether its calls block (plain Microsoft.Data.Sqlite). Then each caller is a thread of its own, as
    /// 64 synchronous callers would be: on the thread pool, blocked callers would wait for it to add threads.</summary>
    bool Blocking { get; }

    /// <summary>Creates database <paramref name="database"/>: its table and one row.</summary>
    Task CreateAsync(int database);

    /// <summary>Reads row <paramref name="id"/> of database <paramref name="database"/>; throws when it is missing.</summary>
    Task ReadAsync(int database, long id);

    Task InsertAsync(int database);

    /// <summary>How many of the databases are open now (the pool may have closed some to stay under its file budget).</summary>
    int OpenDatabases { get; }

    /// <summary>Closes every database; this is what the stop time measures.</summary>
    Task StopAsync();
}

/// <summary>
/// The tenant workload, the same on both sides: every database created with a table and one row, 64 at a time;
/// then 64 callers, each operation on a uniformly random database, 80% point SELECTs of an existing row by primary
/// key and 20% single-row INSERTs. Every exception is counted (with the first one's message), none thrown: a side
/// that fails still reports how far it got.
/// </summary>
internal sealed class TenantWorkload(ITenantSide side, int databases)
{
    public const string Create = "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT NOT NULL)";
    public const string Insert = "INSERT INTO t(v) VALUES ($v)";
    public const string Select = "SELECT id, v FROM t WHERE id = $id";
    public const string Value = "tenant row";

    // The mix; TENANT_WRITE_PERCENT changes it when looking into one side of the mix (diagnostics only).
    private static readonly int WritePercent = int.TryParse(Environment.GetEnvironmentVariable("TENANT_WRITE_PERCENT"), out var percent) ? percent : 20;

    // The rows each database is known to hold: its ids run from 1 to this (a new rowid is the largest plus one and
    // nothing deletes), so a read of any id up to it must find its row.
    private readonly long[] _rows = new long[databases];
    private readonly TaskCompletionSource _created = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _run = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationTokenSource _stop = new();
    private int _next = -1;
    private int _callersDone;
    private Task _callers = Task.CompletedTask;
    private long _operations;
    private long _errors;
    private string? _firstError;
    private long _reads, _readTicks, _writes, _writeTicks;

    public long Errors => Interlocked.Read(ref _errors);

    public string? FirstError => Volatile.Read(ref _firstError);

    /// <summary>Mean latency of the point reads and of the inserts since the databases were created, in ms.</summary>
    public (double Read, double Write) MeanLatencyMs => (
        Interlocked.Read(ref _readTicks) * 1000.0 / Stopwatch.Frequency / Math.Max(1, Interlocked.Read(ref _reads)),
        Interlocked.Read(ref _writeTicks) * 1000.0 / Stopwatch.Frequency / Math.Max(1, Interlocked.Read(ref _writes)));

    /// <summary>Starts the callers, which create every database, <see cref="Settings.Callers"/> at a time, then
    /// wait for <see cref="RunAsync"/>. The same callers run the load: a side out of file descriptors (ulimit -n)
    /// can no longer start a thread.</summary>
    public Task CreateAllAsync()
    {
        _callers = RunCallersAsync(StepAsync);
        return _created.Task;
    }

    /// <summary>Runs the load for <paramref name="warmup"/> uncounted, then <paramref name="run"/>: the operations
    /// per second that succeeded in it.</summary>
    public async Task<double> RunAsync(TimeSpan warmup, TimeSpan run)
    {
        _run.SetResult();
        await Task.Delay(warmup);
        var (before, start) = (Interlocked.Read(ref _operations), Stopwatch.GetTimestamp());
        await Task.Delay(run);
        var rate = (Interlocked.Read(ref _operations) - before) / Stopwatch.GetElapsedTime(start).TotalSeconds;
        await _stop.CancelAsync();
        await _callers;
        _stop.Dispose();
        return rate;
    }

    private async Task<bool> StepAsync()
    {
        if (!_run.Task.IsCompleted)
        {
            var database = Interlocked.Increment(ref _next);
            if (database < databases)
            {
                if (await TryAsync(() => side.CreateAsync(database)))
                {
                    _rows[database] = 1;
                }

                return true;
            }

            if (Interlocked.Increment(ref _callersDone) == Settings.Callers)
            {
                _created.SetResult();
            }

            // A blocking side's caller waits on its own thread: an await would resume it on the thread pool.
            if (side.Blocking)
            {
                _run.Task.Wait();
            }
            else
            {
                await _run.Task;
            }
        }

        if (_stop.IsCancellationRequested)
        {
            return false;
        }

        await OneAsync();
        return true;
    }

    private async Task OneAsync()
    {
        var database = Random.Shared.Next(databases);
        var started = Stopwatch.GetTimestamp();
        if (Random.Shared.Next(100) >= WritePercent)
        {
            var id = Random.Shared.NextInt64(1, Volatile.Read(ref _rows[database]) + 1);
            await TryAsync(() => side.ReadAsync(database, id));
            Interlocked.Add(ref _readTicks, Stopwatch.GetTimestamp() - started);
            Interlocked.Increment(ref _reads);
        }
        else
        {
            if (await TryAsync(() => side.InsertAsync(database)))
            {
                Interlocked.Increment(ref _rows[database]);
            }

            Interlocked.Add(ref _writeTicks, Stopwatch.GetTimestamp() - started);
            Interlocked.Increment(ref _writes);
        }
    }

    private async Task<bool> TryAsync(Func<Task> operation)
    {
        try
        {
            await operation();
            Interlocked.Increment(ref _operations);
            return true;
        }
        catch (Exception e)
        {
            Interlocked.Increment(ref _errors);
            Interlocked.CompareExchange(ref _firstError, $"{e.GetType().Name}: {e.Message}", null);
            return false;
        }
    }

    /// <summary>Runs <paramref name="step"/> in a loop on each of <see cref="Settings.Callers"/> callers until it
    /// returns false: async loops, or dedicated threads for a blocking side.</summary>
    private Task RunCallersAsync(Func<Task<bool>> step) => Task.WhenAll(Enumerable.Range(0, Settings.Callers).Select(_ => side.Blocking
        ? Task.Factory.StartNew(() => { while (step().GetAwaiter().GetResult()) { } }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default)
        : Task.Run(async () => { while (await step()) { } })));
}
