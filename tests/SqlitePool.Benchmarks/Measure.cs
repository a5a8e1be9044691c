using System.Diagnostics;

namespace SqlitePool.Benchmarks;

/// <summary>Runs a workload for a fixed time or a fixed count and reports ops/s or ms.</summary>
internal static class Measure
{
    /// <summary>Operations per second of <paramref name="callers"/> async loops running for <paramref name="duration"/>.</summary>
    public static async Task<double> ThroughputAsync(int callers, TimeSpan duration, Func<int, Task> operation)
    {
        long count = 0;
        using var stop = new CancellationTokenSource();
        var clock = Stopwatch.StartNew();
        var loops = Enumerable.Range(0, callers).Select(caller => Task.Run(async () =>
        {
            long mine = 0;
            var i = caller;
            while (!stop.IsCancellationRequested)
            {
                await operation(i);
                i += callers;
                mine++;
            }

            Interlocked.Add(ref count, mine);
        })).ToArray();
        await Task.Delay(duration);
        stop.Cancel();
        await Task.WhenAll(loops);
        return count / clock.Elapsed.TotalSeconds;
    }

    /// <summary>Operations per second of <paramref name="threads"/> dedicated threads running a synchronous loop.</summary>
    public static double ThroughputOnThreads(int threads, TimeSpan duration, Func<int, Action<long>> workerFor)
    {
        long count = 0;
        var stop = false;
        var start = new Barrier(threads + 1);
        var workers = Enumerable.Range(0, threads).Select(t => new Thread(() =>
        {
            var work = workerFor(t);
            long mine = 0;
            start.SignalAndWait();
            while (!Volatile.Read(ref stop))
            {
                work(mine++ * threads + t);
            }

            Interlocked.Add(ref count, mine);
        })).ToArray();
        foreach (var worker in workers)
        {
            worker.Start();
        }

        start.SignalAndWait();
        var clock = Stopwatch.StartNew();
        Thread.Sleep(duration);
        Volatile.Write(ref stop, true);
        foreach (var worker in workers)
        {
            worker.Join();
        }

        return count / clock.Elapsed.TotalSeconds;
    }

    /// <summary>Mean milliseconds of one run of <paramref name="operation"/> over <paramref name="iterations"/> runs.</summary>
    public static async Task<double> MillisecondsAsync(int iterations, Func<Task> operation)
    {
        var clock = Stopwatch.StartNew();
        for (var i = 0; i < iterations; i++)
        {
            await operation();
        }

        return clock.Elapsed.TotalMilliseconds / iterations;
    }
}
