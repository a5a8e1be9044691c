using SqlitePool.Tests.Support;

namespace SqlitePool.Tests.Cluster;

/// <summary>The checkpoint governor on "walgov/**" databases: WAL limit 1 MiB, snapshots may be held 2 s past it,
/// a look every 200 ms (see <see cref="ClusterFixture"/>).</summary>
[Collection(ClusterCollection.Name)]
public sealed class CheckpointGovernorTests(ClusterFixture cluster)
{
    private const long Limit = 1 << 20;
    private const string ThousandRows =
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000) INSERT INTO t(v) SELECT printf('row %d of a thousand', i) FROM n";

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_reader_holding_a_snapshot_while_100000_rows_are_written_loses_it_after_its_maximum_age_and_the_WAL_returns_under_the_limit()
    {
        var db = cluster.NewDatabase("walgov");
        await db.ExecuteAsync("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)");
        var reader = await db.AcquireReaderAsync(Ct);
        Assert.Equal(0L, (await reader.QueryAsync("SELECT count(*) FROM t"))[0, 0]);

        long largest = 0;
        for (var batch = 0; batch < 100; batch++)
        {
            await db.ExecuteAsync(ThousandRows);
            largest = Math.Max(largest, (await db.GetStatisticsAsync()).WalBytes);
        }

        var held = await db.GetStatisticsAsync();
        TestContext.Current.TestOutputHelper?.WriteLine($"largest WAL while the reader held its snapshot: {largest} bytes; oldest reader {held.OldestReaderAge}");
        Assert.True(largest > Limit, $"the pinned snapshot let the WAL grow past the limit ({largest} bytes)");

        await ClusterWaits.UntilAsync(async () => (await db.GetStatisticsAsync()).WalBytes <= Limit);

        var after = await db.GetStatisticsAsync();
        Assert.Null(after.OldestReaderAge);
        Assert.Equal(1, after.RevokedLeases);
        var error = await Assert.ThrowsAsync<LeaseNotFoundException>(() => reader.QueryAsync("SELECT count(*) FROM t"));
        Assert.Contains("MaxReaderSnapshotAge", error.Message, StringComparison.Ordinal);
        Assert.Equal(100_000L, (await db.QueryAsync("SELECT count(*) FROM t"))[0, 0]);
        Assert.Equal("ok", (await db.QueryAsync("PRAGMA integrity_check"))[0, 0]);
    }

    [Fact]
    public async Task A_young_reader_keeps_its_snapshot_and_statistics_show_its_age()
    {
        var db = cluster.NewDatabase("walgov");
        await db.ExecuteAsync("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)");
        await using var reader = await db.AcquireReaderAsync(Ct);
        await reader.QueryAsync("SELECT count(*) FROM t");
        await db.ExecuteAsync(ThousandRows);
        await Task.Delay(600, Ct);

        var statistics = await db.GetStatisticsAsync();

        Assert.InRange(statistics.OldestReaderAge!.Value, TimeSpan.FromMilliseconds(500), TimeSpan.FromSeconds(60));
        Assert.Equal(0L, (await reader.QueryAsync("SELECT count(*) FROM t"))[0, 0]);
    }

    [Fact]
    public async Task A_quiet_database_has_its_log_checkpointed_and_truncated()
    {
        var db = cluster.NewDatabase("walgov");
        await db.ExecuteAsync("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)");
        await db.ExecuteAsync(ThousandRows);
        Assert.True((await db.GetStatisticsAsync()).WalBytes > 0);

        await ClusterWaits.UntilAsync(async () => (await db.GetStatisticsAsync()) is { WalBytes: 0, WalFramesToCheckpoint: 0 });

        Assert.Equal(1000L, (await db.QueryAsync("SELECT count(*) FROM t"))[0, 0]);
    }
}
