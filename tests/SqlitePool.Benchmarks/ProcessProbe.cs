using System.Diagnostics;
using System.Globalization;

namespace SqlitePool.Benchmarks;

/// <summary>This process's threads, resident memory and CPU time. Linux reports them in /proc/self/status, which
/// costs one small read even with thousands of threads (<see cref="Process.Threads"/> builds an object per thread);
/// elsewhere the <see cref="Process"/> figures stand in. The file stays open and is read again from its start: a side
/// at its limit of open files (the plain one at 10,000 databases) could not open it, and would lose its figures.</summary>
internal static class ProcessProbe
{
    private static readonly Lock StatusLock = new();
    private static readonly FileStream? Status = File.Exists("/proc/self/status")
        ? new FileStream("/proc/self/status", FileMode.Open, FileAccess.Read, FileShare.ReadWrite, bufferSize: 0)
        : null;
    private static readonly byte[] StatusBuffer = new byte[16 * 1024];

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

    /// <summary>File descriptors open in this process: each database holds a few per connection, and the limit
    /// (ulimit -n) bounds how many databases a process can keep open. Null where /proc is missing, and when the
    /// process is at its limit (listing them takes a descriptor too).</summary>
    public static int? OpenFiles()
    {
        try
        {
            return Directory.Exists("/proc/self/fd") ? Directory.GetFileSystemEntries("/proc/self/fd").Length : null;
        }
        catch (IOException)
        {
            return null;
        }
    }

    /// <summary>The most file descriptors this process may open (the soft limit, which .NET raises to the hard one
    /// at start), or null where /proc is missing.</summary>
    public static long? OpenFileLimit()
    {
        const string Limits = "/proc/self/limits";
        var line = File.Exists(Limits) ? File.ReadLines(Limits).FirstOrDefault(l => l.StartsWith("Max open files", StringComparison.Ordinal)) : null;
        return line is null ? null : long.TryParse(line["Max open files".Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture, out var limit) ? limit : null;
    }

    // getrusage: no file to open.
    public static TimeSpan CpuTime() => Environment.CpuUsage.TotalTime;

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
        if (Status is null)
        {
            return null;
        }

        string text;
        lock (StatusLock)
        {
            Status.Seek(0, SeekOrigin.Begin);
            var (length, read) = (0, 0);
            while ((read = Status.Read(StatusBuffer, length, StatusBuffer.Length - length)) > 0)
            {
                length += read;
            }

            text = System.Text.Encoding.ASCII.GetString(StatusBuffer, 0, length);
        }

        // "VmRSS:     12345 kB", "Threads:  42"
        var start = text.IndexOf("\n" + name, StringComparison.Ordinal) + 1 + name.Length;
        var end = text.IndexOf('\n', start);
        return start > name.Length ? long.Parse(text.AsSpan(start, end - start).Trim().ToString().Split(' ')[0], CultureInfo.InvariantCulture) : null;
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
