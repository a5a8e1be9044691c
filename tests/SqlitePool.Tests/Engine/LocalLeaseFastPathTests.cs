using SqlitePool.Engine;

namespace SqlitePool.Tests.Engine;

/// <summary>
/// A reader given back by a silo-local lease is parked for the next local lease, outside the arbitration lock.
/// It must still go to callers that wait, count as idle, make way for exclusive access and let the pool close.
/// </summary>
public sealed class LocalLeaseFastPathTests : PoolTestBase
{
    private static readonly TimeSpan Liveness = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task A_read_waiting_for_the_only_reader_gets_it_when_the_local_lease_ends()
    {
        var pool = await OpenAsync(o => o.MaxReaders = 1);
        await pool.ExecuteAsync(new Statement("CREATE TABLE t(v); INSERT INTO t VALUES (1)"), Ct);
        ParkReader(pool);

        var lease = pool.AcquireLocal(LeaseKind.Reader);
        var query = pool.QueryAsync(new Statement("SELECT count(*) FROM t"), Ct);
        Assert.Equal(1, pool.GetStatistics().ReaderWaiters);
        lease.Dispose();

        Assert.Equal(1L, (await query.WaitAsync(Liveness, Ct))[0, 0]);
        await WaitUntilAsync(() => pool.GetStatistics() is { ReadersBusy: 0, ReadersIdle: 1 });
    }

    [Fact]
    public async Task Exclusive_access_is_granted_beside_a_parked_reader_and_holds_local_leases_back()
    {
        var pool = await OpenAsync(o => o.MaxReaders = 1);
        await pool.ExecuteAsync(new Statement("CREATE TABLE t(v)"), Ct);
        ParkReader(pool);

        var exclusive = await pool.AcquireAsync(LeaseKind.Exclusive, Ct).WaitAsync(Liveness, Ct);
        var stats = pool.GetStatistics();
        Assert.Equal((true, 0, 1), (stats.ExclusiveHeld, stats.ReadersBusy, stats.ReadersIdle));

        var local = Task.Run(() => pool.AcquireLocal(LeaseKind.Reader), Ct);
        await WaitUntilAsync(() => pool.GetStatistics().ReaderWaiters == 1);
        Assert.False(local.IsCompleted);
        await exclusive.DisposeAsync();
        (await local.WaitAsync(Liveness, Ct)).Dispose();
    }

    [Fact]
    public async Task The_pool_closes_with_a_parked_reader()
    {
        var pool = await OpenAsync();
        await pool.ExecuteAsync(new Statement("CREATE TABLE t(v)"), Ct);
        ParkReader(pool);

        await pool.CloseAsync().WaitAsync(Liveness, Ct);
        Assert.Throws<DatabaseClosedException>(() => pool.AcquireLocal(LeaseKind.Reader));
    }

    [Fact]
    public async Task Local_leases_on_more_threads_than_readers_share_them_with_reads_and_exclusive_access()
    {
        const int Threads = 3;
        const int LeasesPerThread = 1500;
        var pool = await OpenAsync(o =>
        {
            o.MaxReaders = 2;
            o.AcquireTimeout = TimeSpan.FromSeconds(5); // a caller left waiting fails the test instead of hanging it
        });
        await pool.ExecuteAsync(new Statement("CREATE TABLE t(v); INSERT INTO t VALUES (1)"), Ct);
        var exclusiveHeld = 0;
        var overlaps = 0;
        var local = 0;
        var stop = false;

        var threads = Enumerable.Range(0, Threads).Select(_ => Task.Factory.StartNew(() =>
        {
            for (var i = 0; i < LeasesPerThread && !Volatile.Read(ref stop); i++)
            {
                using var lease = pool.AcquireLocal(LeaseKind.Reader);
                Interlocked.Add(ref overlaps, Volatile.Read(ref exclusiveHeld));
                Assert.Equal(1L, lease.Prepare("SELECT count(*) FROM t").ExecuteScalar());
                Interlocked.Increment(ref local);
            }
        }, Ct, TaskCreationOptions.LongRunning, TaskScheduler.Default)).ToArray();

        var reads = 0;
        var exclusives = 0;
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        try
        {
            while (!threads.All(t => t.IsCompleted) && !deadline.IsCancellationRequested)
            {
                var query = pool.QueryAsync(new Statement("SELECT count(*) FROM t"), Ct);
                await using (var exclusive = await pool.AcquireAsync(LeaseKind.Exclusive, Ct))
                {
                    Volatile.Write(ref exclusiveHeld, 1);
                    Assert.Equal(0, pool.GetStatistics().ReadersBusy);
                    await Task.Yield();
                    Volatile.Write(ref exclusiveHeld, 0);
                    exclusives++;
                }

                Assert.Equal(1L, (await query)[0, 0]);
                reads++;
            }
        }
        finally
        {
            // The threads stop early when this loop failed or ran out of time (and the count below fails).
            Volatile.Write(ref stop, true);
        }

        // Bounded: a caller whose grant went astray would wait forever.
        await Task.WhenAll(threads).WaitAsync(TimeSpan.FromSeconds(30), Ct);
        var stats = pool.GetStatistics();
        Assert.Equal((Threads * LeasesPerThread, 0), (local, overlaps));
        Assert.True(exclusives > 0 && reads > 0);
        Assert.Equal((0, 0, 0, stats.ReadersOpen), (stats.ReadersBusy, stats.ReaderWaiters, stats.ExclusiveWaiters, stats.ReadersIdle));
    }

    /// <summary>The first local lease opens the reader and gives it back through the lock; the second parks it.</summary>
    private static void ParkReader(DatabasePool pool)
    {
        for (var i = 0; i < 2; i++)
        {
            pool.AcquireLocal(LeaseKind.Reader).Dispose();
        }
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        using var deadline = new CancellationTokenSource(Liveness);
        while (!condition())
        {
            await Task.Delay(10, deadline.Token);
        }
    }
}
