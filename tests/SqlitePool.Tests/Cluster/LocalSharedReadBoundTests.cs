using Microsoft.Extensions.Time.Testing;
using SqlitePool.Client;
using SqlitePool.Engine;
using SqlitePool.Hosting;
using SqlitePool.Tests.Support;

namespace SqlitePool.Tests.Cluster;

/// <summary>
/// Silo-local reads that wait in the process for a shared hand-off keep the database's <c>AcquireTimeout</c>, counted
/// from when they began to wait: in the coalescer (a read never sent in time gets a typed timeout) and in the pool
/// after it (a read sent late does not wait a whole limit more). The pools keep time on a fake clock; the cluster's
/// client only names the process the coalescers belong to.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class LocalSharedReadBoundTests(ClusterFixture cluster)
{
    private static readonly TimeSpan Liveness = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(10);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_local_read_sent_after_waiting_for_a_shared_hand_off_times_out_when_its_whole_wait_reaches_the_limit()
    {
        using var directory = new TempDirectory();
        var time = new FakeTimeProvider();
        await using var registry = new DatabasePoolRegistry(time);
        var (pool, reads) = await OpenAsync(directory, registry, time, new DatabaseOptions { AcquireTimeout = Limit, CallerThreadReadLimit = TimeSpan.Zero });
        await using var exclusive = await pool.AcquireAsync(LeaseKind.Exclusive, Ct);

        // Eight reads in flight wait in the pool; halfway through their wait more come, and wait here for a call.
        var inFlight = reads(CallCoalescer<QueryResult>.MaxCallsInFlight, "SELECT 1");
        time.Advance(Limit / 2);
        var waiting = reads(16, "SELECT 2");
        Assert.Equal(CallCoalescer<QueryResult>.MaxCallsInFlight, pool.GetStatistics().ReaderWaiters);

        // The eight time out, and the first to end sends the sixteen to the pool as one call.
        time.Advance(Limit / 2);
        foreach (var read in inFlight)
        {
            await Assert.ThrowsAsync<DatabaseTimeoutException>(() => read.WaitAsync(Liveness, Ct));
        }

        await ClusterWaits.UntilAsync(() => Task.FromResult(pool.GetStatistics() is { ReaderWaiters: 1, SharedReadCalls: 1 }));

        // Half a limit later the sixteen have waited a whole one: they time out now, not a whole limit after the send.
        time.Advance(Limit / 2);
        foreach (var read in waiting)
        {
            var error = await Assert.ThrowsAsync<DatabaseTimeoutException>(() => read.WaitAsync(Liveness, Ct));
            Assert.Equal(nameof(DatabaseOptions.AcquireTimeout), error.Setting);
        }
    }

    [Fact]
    public async Task A_local_read_waiting_behind_running_reads_gets_a_typed_timeout_at_the_limit_and_is_never_sent()
    {
        using var directory = new TempDirectory();
        var time = new FakeTimeProvider();
        using var scheduler = new SqliteScheduler(new SqliteSchedulerOptions { MinThreads = 2, MaxThreads = 2 });
        await using var registry = new DatabasePoolRegistry(time, scheduler: scheduler);
        var options = new DatabaseOptions { AcquireTimeout = Limit, CallerThreadReadLimit = TimeSpan.Zero, MaxReaders = CallCoalescer<QueryResult>.MaxCallsInFlight };
        var (pool, reads) = await OpenAsync(directory, registry, time, options);
        using var leave = new SemaphoreSlim(0);
        var leases = Enumerable.Range(0, options.MaxReaders).Select(_ => pool.AcquireLocal(LeaseKind.Reader)).ToList();
        foreach (var lease in leases)
        {
            lease.Connection.CreateFunction("hold", () => leave.Wait(Liveness) ? 1L : 0L);
            lease.Dispose();
        }

        // Eight reads in flight hold every reader (none of them waits for one); more wait here for a call.
        var running = reads(CallCoalescer<QueryResult>.MaxCallsInFlight, "SELECT hold()");
        var waiting = reads(16, "SELECT 2");
        time.Advance(Limit);

        foreach (var read in waiting)
        {
            var error = await Assert.ThrowsAsync<DatabaseTimeoutException>(() => read.WaitAsync(Liveness, Ct));
            Assert.Equal(nameof(DatabaseOptions.AcquireTimeout), error.Setting);
            Assert.Contains("not sent", error.Message, StringComparison.Ordinal);
        }

        leave.Release(running.Length);
        foreach (var read in running)
        {
            Assert.Equal(1L, (await read.WaitAsync(Liveness, Ct))[0, 0]);
        }

        Assert.Equal(running.Length, pool.GetStatistics().Reads);
    }

    /// <summary>A database opened on <paramref name="registry"/>, and a way to send reads of it through the coalescer
    /// of silo-local reads, as a handle on its silo does.</summary>
    private async Task<(DatabasePool Pool, Func<int, string, Task<QueryResult>[]> Reads)> OpenAsync(
        TempDirectory directory, DatabasePoolRegistry registry, FakeTimeProvider time, DatabaseOptions options)
    {
        var router = new LocalCallRouter("local", directory.Path, registry, TimeSpan.FromHours(1), time);
        var id = new DatabaseId("local", $"{Guid.NewGuid():N}.db");
        var pool = await registry.GetOrOpenAsync(id.GrainKey, router.NameOf(id), options, null);
        router.Touched(pool); // its calls go straight to the pool: none is due through the grain
        var local = router.Find(id, null!)!;
        return (pool, (count, sql) => [.. Enumerable.Range(0, count).Select(_ =>
            CallCoalescer<QueryResult>.RunAsync(cluster.Client, local, id.GrainKey, new Statement(sql), SharedCalls.LocalReads))]);
    }
}
