using System.Diagnostics;

namespace SqlitePool.Benchmarks;

/// <summary>Runs a workload for a fixed time or a fixed count and reports ops/s or ms.</summary>
internal static class Measure
{
    /// <summary>How long the workload runs before the counting starts, and keeps running after it ends: a short
    /// slice measures the steady rate, not the start of 64 callers or the drain of their last calls.</summary>
    public static readonly TimeSpan RampTime = TimeSpan.FromMilliseconds(20);

    // Each caller counts in its own cache line.
    private const int Padding = 16;

    /// <summary>Operations per second of <paramref name="callers"/> async loops, counted over <paramref name="duration"/>.</summary>
    public static async Task<double> ThroughputAsync(int callers, TimeSpan duration, Func<int, Task> operation)
    {
        var counts = new long[callers * Padding];
        using var stop = new CancellationTokenSource();
        var loops = Enumerable.Range(0, callers).Select(caller => Task.Run(async () =>
        {
            var i = caller;
            while (!stop.IsCancellationRequested)
            {
                await operation(i);
                i += callers;
                Volatile.Write(ref counts[caller * Padding], counts[caller * Padding] + 1);
            }
        })).ToArray();
        await Task.Delay(RampTime);
        var (before, start) = (Sum(counts), Stopwatch.GetTimestamp());
        await Task.Delay(duration);
        var rate = (Sum(counts) - before) / Stopwatch.GetElapsedTime(start).TotalSeconds;
        await stop.CancelAsync();
        await Task.WhenAll(loops);
        return rate;
    }

    /// <summary>Operations per second of <paramref name="threads"/> dedicated threads running a synchronous loop,
    /// counted over <paramref name="duration"/>.</summary>
    public static double ThroughputOnThreads(int threads, TimeSpan duration, Func<int, Action<long>> workerFor)
    {
        var counts = new long[threads * Padding];
        var stop = false;
        var workers = Enumerable.Range(0, threads).Select(t => new Thread(() =>
        {
            var work = workerFor(t);
            long mine = 0;
            while (!Volatile.Read(ref stop))
            {
                work(mine++ * threads + t);
                Volatile.Write(ref counts[t * Padding], mine);
            }
        })).ToArray();
        foreach (var worker in workers)
        {
            worker.Start();
        }

        Thread.Sleep(RampTime);
        var (before, start) = (Sum(counts), Stopwatch.GetTimestamp());
        Thread.Sleep(duration);
        var rate = (Sum(counts) - before) / Stopwatch.GetElapsedTime(start).TotalSeconds;
        Volatile.Write(ref stop, true);
        foreach (var worker in workers)
        {
            worker.Join();
        }

        return rate;
    }

    /// <summary>
    /// Operations per second of two synchronous loops run on one thread in alternating blocks of
    /// <paramref name="block"/> operations (1-2 ms of point SELECTs) for <paramref name="duration"/> in all. This VM's
    /// speed changes several times a second by up to a third, so sides measured even 0.1 s apart see different
    /// machines; blocks this short see the same one, and the ratio of the two rates holds within about 1%.
    /// </summary>
    public static (double First, double Second) Interleaved(TimeSpan duration, Action<long> first, Action<long> second, int block = 256)
    {
        (double, double) rates = default;
        var thread = new Thread(() =>
        {
            var sides = new[] { first, second };
            var (ticks, operations) = (new long[2], new long[2]);
            var end = Stopwatch.GetTimestamp() + (long)(duration.TotalSeconds * Stopwatch.Frequency);
            while (Stopwatch.GetTimestamp() < end)
            {
                for (var side = 0; side < 2; side++)
                {
                    var (work, start, next) = (sides[side], Stopwatch.GetTimestamp(), operations[side]);
                    for (var i = 0; i < block; i++)
                    {
                        work(next + i);
                    }

                    ticks[side] += Stopwatch.GetTimestamp() - start;
                    operations[side] += block;
                }
            }

            rates = (operations[0] * (double)Stopwatch.Frequency / ticks[0], operations[1] * (double)Stopwatch.Frequency / ticks[1]);
        });
        thread.Start();
        thread.Join();
        return rates;
    }

    private static long Sum(long[] counts)
    {
        long sum = 0;
        for (var i = 0; i < counts.Length; i += Padding)
        {
            sum += Volatile.Read(ref counts[i]);
        }

        return sum;
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
