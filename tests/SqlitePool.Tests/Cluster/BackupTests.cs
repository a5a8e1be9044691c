using SqlitePool.Client;

namespace SqlitePool.Tests.Cluster;

/// <summary>Online backups and restores through the grain, on real files, while writes go on.</summary>
[Collection(ClusterCollection.Name)]
public sealed class BackupTests(ClusterFixture cluster)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_backup_under_a_write_load_is_sound_holds_every_row_committed_before_it_began_and_serves_queries_once_restored()
    {
        var source = cluster.NewDatabase("backup");
        await source.ExecuteAsync("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)");
        await source.ExecuteBatchAsync(Enumerable.Range(0, 500).Select(i => new Statement("INSERT INTO t(v) VALUES (?)", [$"seed-{i}"])), Ct);

        using var stop = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        long acknowledged = 0;
        var writers = Enumerable.Range(0, 4).Select(w => Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                var id = (await source.ExecuteAsync("INSERT INTO t(v) VALUES (?)", $"load-{w}")).LastInsertRowId;
                InterlockedMax(ref acknowledged, id);
            }
        }, CancellationToken.None)).ToArray();
        while (Interlocked.Read(ref acknowledged) < 1000)
        {
            await Task.Delay(10, Ct);
        }

        var committedBefore = Interlocked.Read(ref acknowledged);
        var backup = cluster.NewDatabase("backups");
        var result = await source.BackupToAsync(backup.Id, Ct);
        await stop.CancelAsync();
        await Task.WhenAll(writers);

        Assert.Equal((source.Id.GrainKey, backup.Id.GrainKey), (result.Source, result.Destination));
        Assert.True(result.Bytes > 0);
        Assert.Equal("ok", (await backup.QueryAsync("PRAGMA integrity_check"))[0, 0]);
        var copied = (await backup.QueryAsync("SELECT count(*), max(id) FROM t WHERE id <= ?", committedBefore));
        Assert.Equal(committedBefore, copied[0, 0]);
        Assert.True((long)(await source.QueryAsync("SELECT count(*) FROM t"))[0, 0]! > committedBefore, "writes went on during the backup");

        // The backup restores as a new key that serves reads and writes.
        var restored = cluster.NewDatabase("restored");
        await restored.RestoreFromAsync(backup.Id, Ct);
        Assert.Equal((await backup.QueryAsync("SELECT count(*) FROM t"))[0, 0], (await restored.QueryAsync("SELECT count(*) FROM t"))[0, 0]);
        // A copy is a new database: its transaction ids start from none (not a jump, as for a lost lock file).
        Assert.Equal(1, (await restored.ExecuteAsync("INSERT INTO t(v) VALUES ('after restore')")).TransactionId);
        Assert.True((await restored.GetStatisticsAsync()).WalBytes > 0, "the restored database runs in WAL mode like any other");
    }

    [Fact]
    public async Task A_backup_or_restore_into_an_existing_database_is_refused_and_writes_nothing()
    {
        var source = cluster.NewDatabase("backup");
        var existing = cluster.NewDatabase("backups");
        await source.ExecuteAsync("CREATE TABLE t(v)");
        await existing.ExecuteAsync("CREATE TABLE mine(v)");

        var error = await Assert.ThrowsAsync<DatabaseExistsException>(() => source.BackupToAsync(existing.Id, Ct));
        Assert.Equal(existing.Id.GrainKey, error.Database);
        await Assert.ThrowsAsync<DatabaseExistsException>(() => existing.RestoreFromAsync(source.Id, Ct));
        await Assert.ThrowsAsync<DatabaseExistsException>(() => source.BackupToAsync(source.Id, Ct));

        Assert.Equal(["mine"], (await existing.QueryAsync("SELECT name FROM sqlite_master")).Values);
        Assert.Empty(Directory.GetFiles(Path.Combine(cluster.DataRoot, "backups"), "*.restore-*"));
        Assert.Empty(Directory.GetFiles(Path.Combine(cluster.DataRoot, "backup"), "*.snapshot-*"));
    }

    [Fact]
    public async Task Restoring_from_a_database_that_is_not_there_fails_and_leaves_no_file()
    {
        var missing = cluster.NewDatabase("nothing");
        var target = cluster.NewDatabase("restored");

        var error = await Assert.ThrowsAsync<DatabaseNotFoundException>(() => target.RestoreFromAsync(missing.Id, Ct));

        Assert.Equal(missing.Id.GrainKey, error.Database);
        Assert.False(File.Exists(Path.Combine(cluster.DataRoot, target.Id.Path)));
        Assert.False(File.Exists(Path.Combine(cluster.DataRoot, missing.Id.Path)));
        // The failed restore left the key free: a later restore of a real database succeeds.
        var real = cluster.NewDatabase("backup");
        await real.ExecuteAsync("CREATE TABLE t(v)");
        await target.RestoreFromAsync(real.Id, Ct);
        Assert.Single((await target.QueryAsync("SELECT name FROM sqlite_master")).Values);
        Assert.Empty(Directory.GetFiles(Path.Combine(cluster.DataRoot, "restored"), "*.restore-*"));
    }

    private static void InterlockedMax(ref long target, long value)
    {
        var current = Interlocked.Read(ref target);
        while (value > current && Interlocked.CompareExchange(ref target, value, current) != current)
        {
            current = Interlocked.Read(ref target);
        }
    }
}
