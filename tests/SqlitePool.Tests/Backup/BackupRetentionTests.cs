using Microsoft.Extensions.Time.Testing;
using SqlitePool.Engine;
using SqlitePool.Engine.Backup;
using SqlitePool.Tests.Engine;

namespace SqlitePool.Tests.Backup;

/// <summary>Days of continuous backup on a fake clock: merges keep every restore short, and retention deletes what no
/// kept point needs.</summary>
public sealed class BackupRetentionTests(AzuriteFixture azurite) : PoolTestBase, IClassFixture<AzuriteFixture>
{
    [Theory]
    [InlineData("directory")]
    [InlineData("azure")]
    public async Task After_simulated_days_only_what_kept_points_need_is_left_and_each_restores_from_at_most_20_objects(string kind)
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 12, 1, 0, 0, 0, TimeSpan.Zero));
        var target = kind == "azure" ? azurite.NewTarget() : new DirectoryBackupTarget(Directory.File("backup"));
        var retention = TimeSpan.FromDays(3);
        var pool = await OpenAsync(o =>
        {
            o.DatabaseIdleTimeout = Timeout.InfiniteTimeSpan;
            o.Backup = new BackupOptions { Target = target, SnapshotInterval = TimeSpan.FromDays(1), Retention = retention };
        }, time);
        var created = await pool.ExecuteAsync(new Statement("CREATE TABLE t(id INTEGER PRIMARY KEY, v)"), Ct);
        var rowsAt = new SortedDictionary<long, long> { [created.TransactionId] = 0 };
        var rows = 0L;
        for (var step = 0; step < 6 * 24 * 4; step++)
        {
            // Every quarter of an hour, for six days: a commit, shipped as its own segment.
            var written = await pool.ExecuteAsync(new Statement("INSERT INTO t(v) VALUES (?)", step), Ct);
            rowsAt[written.TransactionId] = ++rows;
            time.Advance(TimeSpan.FromMinutes(15));
            await pool.FlushBackupAsync(TimeSpan.FromSeconds(30));
            await pool.MaintainBackupAsync();
        }

        var (snapshots, segments) = BackupChain.Parse(pool.Database, await target.ListAsync(pool.Database + "/", Ct));
        var cutoff = time.GetUtcNow() - retention;
        var oldest = Assert.Single(snapshots, s => s.LastCommittedAt <= cutoff);
        Assert.All(segments, s => Assert.True(s.LastTransaction > oldest.LastTransaction, $"{s.Key} only restores points before {oldest.Key}"));
        Assert.Contains(segments, s => s.Level >= 2);

        // Epochs that ended over a day ago keep only their coarsest segments.
        var ended = snapshots.Where(s => s.LastCommittedAt <= time.GetUtcNow() - BackupCatalog.FineRetention).Select(s => s.LastTransaction).DefaultIfEmpty(0).Max();
        Assert.DoesNotContain(segments, s => s.LastTransaction <= ended
            && segments.Any(c => c.Level > s.Level && c.FirstTransaction <= s.FirstTransaction && s.LastTransaction <= c.LastTransaction));

        var points = snapshots.Concat(segments).Select(s => s.LastTransaction).Distinct().Order().ToList();
        Assert.True(points.Count > 100, $"{points.Count} kept points");
        var most = 0;
        foreach (var point in points.Where((_, i) => i % 3 == 0).Append(points[^1]))
        {
            var path = Directory.File($"at-{point}.db");
            var restored = await BackupRestore.RestoreAsync(target, pool.Database, new RestorePoint(Transaction: point), path, Ct);
            most = Math.Max(most, restored.ObjectsRead);
            Assert.Equal(rowsAt[point], (long)ContinuousBackupTests.Scalar(path, "SELECT count(*) FROM t")!);
            File.Delete(path);
            File.Delete(path + ".lock");
        }

        Assert.InRange(most, 1, 20);
    }
}
