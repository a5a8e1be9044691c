using System.Diagnostics;
using System.Globalization;

namespace SqlitePool.Benchmarks;

/// <summary>This process's threads, resident memory and CPU time. Linux reports them in /proc/self/status, which
/// costs one small read even with thousands of threads (<see cref="Process.Threads"/> builds an object per thread);
/// elsewhere the <see cref="Process"/> figures stand in.</summary>
internal static class ProcessProbe
{
    private const string Status = "/proc/self/status";

    public static int Threads() => StatusField("Threads:") is { } threads ? (int)threads : Current(p => p.Threads.Count);

    public static double RssMiB() => (StatusField("VmRSS:") is { } kib ? kib * 1024 : Current(p => p.WorkingSet64)) / (1024.0 * 1024.0);

    /// <summary>Resident memory after a full blocking collection: what the process holds, not the garbage a run
    /// happened to leave behind (gen0 alone can be tens of MiB, which would swing a per-database figure).</summary>
    public static double RetainedRssMiB()
    {
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
        return RssMiB();
    }

    /// <summary>What SQLite's allocator holds (both sides load the same native library): the databases' own memory,
    /// apart from what the C and .NET heaps keep around it.</summary>
    public static double SqliteHeapMiB() => SQLitePCL.raw.sqlite3_memory_used() / (1024.0 * 1024.0);

    /// <summary>File descriptors open in this process, or null where /proc is missing: each database holds a few
    /// per connection, and a silo's limit (ulimit -n) bounds how many it can keep open.</summary>
    public static int? OpenFiles() => Directory.Exists("/proc/self/fd") ? Directory.GetFileSystemEntries("/proc/self/fd").Length : null;

    public static TimeSpan CpuTime() => Current(p => p.TotalProcessorTime);

    /// <summary>CPU time over <paramref name="window"/>, as a percentage of one core.</summary>
    public static async Task<double> CpuPercentAsync(TimeSpan window)
    {
        var (cpu, clock) = (CpuTime(), Stopwatch.StartNew());
        await Task.Delay(window);
        return (CpuTime() - cpu).TotalSeconds / clock.Elapsed.TotalSeconds * 100;
    }

    /// <summary>Samples the thread count every 100 ms on a thread of its own (a timer on a starved thread pool
    /// would miss the peak) until disposed; <see cref="Peak"/> is the most seen.</summary>
    public static PeakThreads SamplePeakThreads() => new();

    private static T Current<T>(Func<Process, T> read)
    {
        using var process = Process.GetCurrentProcess();
        return read(process);
    }

    private static long? StatusField(string name)
    {
        if (!File.Exists(Status))
        {
            return null;
        }

        foreach (var line in File.ReadLines(Status))
        {
            if (line.StartsWith(name, StringComparison.Ordinal))
            {
                // "VmRSS:     12345 kB", "Threads:  42"
                return long.Parse(line.AsSpan(name.Length).Trim().ToString().Split(' ')[0], CultureInfo.InvariantCulture);
            }
        }

        return null;
    }
}

/// <summary>The sampler of <see cref="ProcessProbe.SamplePeakThreads"/>.</summary>
internal sealed class PeakThreads : IDisposable
{
    private readonly Thread _sampler;
    private volatile bool _stop;
    private int _peak;

    public PeakThreads()
    {
        _peak = ProcessProbe.Threads();
        _sampler = new Thread(() =>
        {
            while (!_stop)
            {
                Volatile.Write(ref _peak, Math.Max(Volatile.Read(ref _peak), ProcessProbe.Threads()));
                Thread.Sleep(100);
            }
        }) { IsBackground = true, Name = "peak threads" };
        _sampler.Start();
    }

    // Only the sampler writes the peak; a read also counts the threads of this moment.
    public int Peak => Math.Max(Volatile.Read(ref _peak), ProcessProbe.Threads());

    public void Dispose()
    {
        _stop = true;
        _sampler.Join();
    }
}
