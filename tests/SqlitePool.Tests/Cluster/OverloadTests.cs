namespace SqlitePool.Tests.Cluster;

/// <summary>Invariant 7: with small limits, thousands of concurrent callers get an answer or a typed refusal, never a hang.</summary>
[Collection(ClusterCollection.Name)]
public sealed class OverloadTests(ClusterFixture cluster)
{
    [Fact]
    public async Task Five_thousand_concurrent_callers_succeed_or_get_overload_or_timeout_and_the_database_works_after()
    {
        // overload/** has MaxReaders 2, queue capacities 64 and an acquire timeout of 2 s (see ClusterFixture).
        var db = cluster.NewDatabase("overload");
        await db.ExecuteAsync("CREATE TABLE t(id INTEGER PRIMARY KEY, v)");
        var maxWriterWaiters = 0;
        var maxReaderWaiters = 0;
        using var done = new CancellationTokenSource();
        var watcher = Task.Run(async () =>
        {
            while (!done.IsCancellationRequested)
            {
                var stats = await db.GetStatisticsAsync();
                maxWriterWaiters = Math.Max(maxWriterWaiters, stats.WriterWaiters + stats.ExclusiveWaiters);
                maxReaderWaiters = Math.Max(maxReaderWaiters, stats.ReaderWaiters);
            }
        }, TestContext.Current.CancellationToken);

        var outcomes = await Task.WhenAll(Enumerable.Range(0, 5000).Select(async i =>
        {
            try
            {
                if (i % 2 == 0)
                {
                    await db.ExecuteAsync("INSERT INTO t(v) VALUES (?)", i);
                }
                else
                {
                    await db.QueryAsync("SELECT count(*) FROM t");
                }

                return "ok";
            }
            catch (DatabaseOverloadedException)
            {
                return "overloaded";
            }
            catch (DatabaseTimeoutException)
            {
                return "timeout";
            }
        }));
        await done.CancelAsync();
        await watcher;

        var counts = outcomes.GroupBy(o => o).ToDictionary(g => g.Key, g => g.Count());
        TestContext.Current.TestOutputHelper?.WriteLine(string.Join(", ", counts.Select(c => $"{c.Key}: {c.Value}")));
        Assert.True(counts.GetValueOrDefault("ok") > 0);
        Assert.True(counts.GetValueOrDefault("overloaded") > 0, "the queues never filled: the test did not load the pool");
        Assert.InRange(maxWriterWaiters, 0, 64);
        Assert.InRange(maxReaderWaiters, 0, 64);
        var inserted = await db.QuerySingleAsync<long>("SELECT count(*) FROM t");
        Assert.Equal(outcomes.Where((o, i) => i % 2 == 0 && o == "ok").Count(), inserted);
        var stats = await db.GetStatisticsAsync();
        Assert.Equal((0, 0, false), (stats.WriterWaiters, stats.ReaderWaiters, stats.WriterBusy));
    }
}
