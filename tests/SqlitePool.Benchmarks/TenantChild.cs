using System.Diagnostics;
using System.Globalization;
using System.Text.Json;

namespace SqlitePool.Benchmarks;

/// <summary>
/// One side of a tenant scenario, run as a child process (<c>tenants pool|plain N DIR [SECONDS]</c>): peak threads,
/// resident memory and CPU time are the whole process's, so each side needs a process of its own. It prints one
/// JSON line (a <see cref="TenantReport"/>) to stdout, progress to stderr, and exits.
/// </summary>
internal static class TenantChild
{
    /// <summary>File descriptors an open database holds at the least, on one connection: the database, its -wal,
    /// and its -shm (shared by the process's connections to it).</summary>
    private const int FilesPerDatabase = 3;

    public static async Task<int> RunAsync(string side, int databases, string directory, TenantTimes times)
    {
        // At 10,000 databases a side can run out of file descriptors (ulimit -n), and then nothing that opens a file
        // works: the console's first write, an assembly loaded on first use, the report. So the console starts now,
        // and a few descriptors are held back until the load is over, to measure and report with.
        var openFileLimit = ProcessProbe.OpenFileLimit();
        Console.Out.Flush();
        Console.Error.WriteLine($"{side} side, {databases:N0} databases, at most {openFileLimit?.ToString(CultureInfo.InvariantCulture) ?? "?"} open files");
        var tooFewFiles = openFileLimit < databases * FilesPerDatabase;
        if (tooFewFiles && side == "plain")
        {
            // Pooled, plain SQLite fails a third of its opens here and then aborts the runtime ("Out of memory.").
            Console.Error.WriteLine($"{databases:N0} pooled connections need at least {databases * FilesPerDatabase:N0} open files, more than the limit: plain runs unpooled, each operation opening and closing its file");
        }
        else if (tooFewFiles)
        {
            Console.Error.WriteLine($"{databases:N0} open databases need at least {databases * FilesPerDatabase:N0} open files, more than the limit: the pool keeps as many open as its file budget allows");
        }

        var reserve = Enumerable.Range(0, 32).Select(_ => File.OpenHandle(Path.Combine(directory, "descriptor-reserve"), FileMode.OpenOrCreate)).ToArray();
        await using ITenantSide tenants = side switch
        {
            "pool" => await PoolTenants.StartAsync(directory, databases),
            "plain" => new PlainTenants(directory, databases, pooled: !tooFewFiles),
            _ => throw new ArgumentException("unknown side " + side, nameof(side)),
        };
        var workload = new TenantWorkload(tenants, databases);
        var rssBefore = ProcessProbe.RetainedRssMiB();
        TimeSpan opens;
        long openErrors;
        double rate;
        int peakThreads;
        using (var peak = ProcessProbe.SamplePeakThreads())
        {
            var clock = Stopwatch.StartNew();
            await workload.CreateAllAsync();
            (opens, openErrors) = (clock.Elapsed, workload.Errors);
            Console.Error.WriteLine($"created {databases:N0} databases in {opens.TotalSeconds:0.00} s, {openErrors} errors, {peak.Peak:N0} threads at most");
            if (tenants is PoolTenants pool)
            {
                Console.Error.WriteLine(pool.EngineState());
            }
            rate = await workload.RunAsync(times.Warmup, times.Run);
            if (tenants is PoolTenants after)
            {
                Console.Error.WriteLine(after.EngineState());
            }
            peakThreads = peak.Peak;
        }

        foreach (var descriptor in reserve)
        {
            descriptor.Dispose();
        }

        var (rss, sqliteHeap, openFiles) = (ProcessProbe.RetainedRssMiB(), ProcessProbe.SqliteHeapMiB(), ProcessProbe.OpenFiles());
        Console.Error.WriteLine($"{rate:N0} ops/s, {workload.Errors - openErrors} errors, {peakThreads:N0} threads at most, RSS {rssBefore:0.0} -> {rss:0.0} MiB, mean latency {workload.MeanLatencyMs.Read:0.000} ms a read, {workload.MeanLatencyMs.Write:0.000} ms a write");

        // Idle timeouts (of readers, say) fire in the quiet before the CPU time is measured.
        await Task.Delay(times.Settle);
        var (rssIdle, openDatabases) = (ProcessProbe.RetainedRssMiB(), tenants.OpenDatabases);
        var idleCpu = await ProcessProbe.CpuPercentAsync(times.Idle);
        var stop = Stopwatch.StartNew();
        await tenants.StopAsync();
        var report = new TenantReport
        {
            Side = side,
            Databases = databases,
            Pooled = tenants is not PlainTenants { Pooled: false },
            OpensSeconds = opens.TotalSeconds,
            OpenErrors = openErrors,
            OpsPerSecond = rate,
            Errors = workload.Errors - openErrors,
            FirstError = workload.FirstError,
            PeakThreads = peakThreads,
            RssBeforeMiB = rssBefore,
            RssMiB = rss,
            RssIdleMiB = rssIdle,
            OpenDatabases = openDatabases,
            SqliteHeapMiB = sqliteHeap,
            OpenFiles = openFiles,
            OpenFileLimit = openFileLimit,
            IdleCpuPercent = idleCpu,
            StopSeconds = stop.Elapsed.TotalSeconds,
        };
        Console.WriteLine(JsonSerializer.Serialize(report, TenantReport.Json));
        return 0;
    }
}

/// <summary>The phases of a tenant child. At the full 10 s run: 2 s warm-up, 15 s of quiet, 5 s of idle CPU;
/// a shorter run (a development option) shrinks them alike.</summary>
internal sealed record TenantTimes(TimeSpan Run)
{
    public static readonly TimeSpan FullRun = TimeSpan.FromSeconds(10);

    public TimeSpan Warmup => Run * 0.2;

    public TimeSpan Settle => Run * 1.5;

    public TimeSpan Idle => Run * 0.5;
}
