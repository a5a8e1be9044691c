using OpenTelemetry;
using OpenTelemetry.Metrics;
using SqlitePool.Diagnostics;
using SqlitePool.Tests.Cluster;
using SqlitePool.Tests.Support;

namespace SqlitePool.Tests.Observability;

/// <summary>The pool's meter, read through OpenTelemetry's in-memory exporter after a known workload.</summary>
[Collection(ClusterCollection.Name)]
public sealed class MetricsTests(ClusterFixture cluster)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_known_workload_shows_in_the_database_client_metrics_tagged_with_the_pool_name()
    {
        var exported = new List<Metric>();
        using var meters = Sdk.CreateMeterProviderBuilder().AddMeter(SqlitePoolMetrics.MeterName).AddInMemoryExporter(exported).Build();
        var db = cluster.NewDatabase("metrics");
        var pool = db.Id.GrainKey;

        await db.ExecuteAsync("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)");
        await Task.WhenAll(Enumerable.Range(0, 7).Select(i => db.ExecuteAsync("INSERT INTO t(v) VALUES (?)", $"v{i}")));
        await db.ExecuteBatchAsync([new Statement("INSERT INTO t(v) VALUES ('a')"), new Statement("INSERT INTO t(v) VALUES ('b')"), new Statement("UPDATE t SET v = 'c' WHERE id = 1")], Ct);
        Assert.Equal(9, (await db.QueryAsync("SELECT * FROM t")).RowCount);
        Assert.Equal(2, (await db.QueryAsync("SELECT * FROM t WHERE id <= 2")).RowCount);

        meters.ForceFlush();

        Assert.Equal(11, Sum(exported, "sqlitepool.rows.read", pool));
        Assert.Equal(10, Sum(exported, "sqlitepool.rows.written", pool));
        Assert.Equal(1 + 7 + 1 + 2, Count(exported, "db.client.operation.duration", pool));
        Assert.Equal(1 + 7 + 1, Sum(exported, "sqlitepool.group_commit.size", pool));
        Assert.Equal(11, Count(exported, "db.client.connection.wait_time", pool));
        // Seconds, measured from when each caller asked: the whole workload took far less than a minute.
        Assert.InRange(Points(exported, "db.client.connection.wait_time", pool).Sum(p => p.GetHistogramSum()), 0, 60);
        Assert.InRange(Points(exported, "db.client.operation.duration", pool).Sum(p => p.GetHistogramSum()), 1e-6, 60);
        // One use of the writer serves a whole commit group: at least CREATE, one group, the batch and two reads.
        Assert.InRange(Count(exported, "db.client.connection.use_time", pool), 5, 11);

        var statistics = await db.GetStatisticsAsync();
        Assert.Equal(statistics.MaxReaders + 1, Value(exported, "db.client.connection.max", pool));
        Assert.Equal(statistics.ReadersOpen + 1, Value(exported, "db.client.connection.count", pool, ("db.client.connection.state", "idle")));
        Assert.Equal(0, Value(exported, "db.client.connection.count", pool, ("db.client.connection.state", "used")));
        Assert.Equal(0, Value(exported, "db.client.connection.pending_requests", pool));
        Assert.Equal(0, Value(exported, "sqlitepool.writer.queue_depth", pool));
        Assert.True(Value(exported, "sqlitepool.wal.size", pool) > 0);
        Assert.Equal(statistics.WalFramesToCheckpoint, Value(exported, "sqlitepool.wal.checkpoint_lag", pool));
        Assert.True(statistics.WalFramesToCheckpoint > 0, "writes since the last checkpoint are frames to checkpoint");
        var duration = Assert.Single(exported, m => m.Name == "db.client.operation.duration");
        Assert.Equal("s", duration.Unit);
    }

    [Fact]
    public async Task Waiters_pending_and_timeouts_are_counted()
    {
        var exported = new List<Metric>();
        using var meters = Sdk.CreateMeterProviderBuilder().AddMeter(SqlitePoolMetrics.MeterName).AddInMemoryExporter(exported).Build();
        var db = cluster.NewDatabase("metrics");
        // "short/**" databases time out acquisitions after 300 ms.
        var hurried = cluster.NewDatabase("short");
        await db.ExecuteAsync("CREATE TABLE t(v)");
        await hurried.ExecuteAsync("CREATE TABLE t(v)");

        Task<QueryResult> waiting;
        await using (await db.AcquireExclusiveAsync(Ct))
        {
            waiting = db.QueryAsync("SELECT 1");
            await ClusterWaits.UntilAsync(async () => (await db.GetStatisticsAsync()).ReaderWaiters == 1);
            meters.ForceFlush();
            Assert.Equal(1, Value(exported, "db.client.connection.pending_requests", db.Id.GrainKey));
            Assert.Equal(1, Value(exported, "db.client.connection.count", db.Id.GrainKey, ("db.client.connection.state", "used")));
            Assert.False(waiting.IsCompleted);
        }

        await waiting;

        await using (await hurried.AcquireExclusiveAsync(Ct))
        {
            await Assert.ThrowsAsync<DatabaseTimeoutException>(() => hurried.QueryAsync("SELECT 1"));
        }

        exported.Clear();
        meters.ForceFlush();
        Assert.Equal(1, Sum(exported, "db.client.connection.timeouts", hurried.Id.GrainKey));
        Assert.Equal(0, Sum(exported, "db.client.connection.timeouts", db.Id.GrainKey));
        Assert.Equal(0, Value(exported, "db.client.connection.pending_requests", db.Id.GrainKey));
    }

    private static List<MetricPoint> Points(List<Metric> exported, string name, string pool, (string Key, string Value)? tag = null)
    {
        var found = new List<MetricPoint>();
        foreach (var metric in exported.Where(m => m.Name == name))
        {
            foreach (ref readonly var point in metric.GetMetricPoints())
            {
                var tags = new Dictionary<string, object?>();
                foreach (var t in point.Tags)
                {
                    tags[t.Key] = t.Value;
                }

                if (Equals(tags.GetValueOrDefault(SqlitePoolMetrics.PoolNameTag), pool) && (tag is not { } wanted || Equals(tags.GetValueOrDefault(wanted.Key), wanted.Value)))
                {
                    found.Add(point);
                }
            }
        }

        return found;
    }

    private static long Sum(List<Metric> exported, string name, string pool) =>
        Points(exported, name, pool).Sum(p => exported.First(m => m.Name == name).MetricType switch
        {
            MetricType.Histogram => (long)p.GetHistogramSum(),
            _ => p.GetSumLong(),
        });

    private static long Count(List<Metric> exported, string name, string pool) => Points(exported, name, pool).Sum(p => p.GetHistogramCount());

    private static long Value(List<Metric> exported, string name, string pool, (string, string)? tag = null)
    {
        var metric = exported.Last(m => m.Name == name);
        var point = Points([metric], name, pool, tag).Single();
        return metric.MetricType == MetricType.LongGauge ? point.GetGaugeLastValueLong() : point.GetSumLong();
    }
}
