using Microsoft.Data.Sqlite;
using SqlitePool.Engine;
using SqlitePool.Engine.Backup;
using SqlitePool.Hosting;
using SqlitePool.Tests.Engine;

namespace SqlitePool.Tests.Backup;

/// <summary>Continuous backup of an open pool, to a directory and to Azure Blob Storage (Azurite): every commit is
/// shipped, and restores reach any transaction or moment exactly.</summary>
public sealed class ContinuousBackupTests(AzuriteFixture azurite) : PoolTestBase, IClassFixture<AzuriteFixture>
{
    internal const string Fingerprint = "SELECT count(*) || ':' || coalesce(group_concat(id || '=' || hex(v), ','), '') || ':' || (SELECT group_concat(name || sql, ',') FROM sqlite_schema) FROM t";

    private IBackupTarget? _target;

    private IBackupTarget Target => _target ??= new DirectoryBackupTarget(Directory.File("backup"));

    private void Use(string target) => _target = target == "azure" ? azurite.NewTarget() : null;

    private Action<DatabaseOptions> Backup(Action<BackupOptions>? configure = null) => o =>
    {
        o.Backup = new BackupOptions { Target = Target, Interval = TimeSpan.FromMilliseconds(50) };
        configure?.Invoke(o.Backup);
    };

    [Theory]
    [InlineData("directory")]
    [InlineData("azure")]
    public async Task A_restore_to_a_transaction_or_a_time_holds_exactly_the_commits_up_to_it(string target)
    {
        Use(target);
        var pool = await OpenAsync(Backup());
        await pool.ExecuteAsync(new Statement("CREATE TABLE t(id INTEGER PRIMARY KEY, v)"), Ct);
        var writes = new List<(long Id, long Transaction, DateTimeOffset After)>();
        for (var i = 0; i < 40; i++)
        {
            var result = await pool.ExecuteAsync(new Statement("INSERT INTO t(v) VALUES (?)", i % 7 == 0 ? new string('x', 5000) : i), Ct);
            writes.Add((result.LastInsertRowId, result.TransactionId, DateTimeOffset.UtcNow));
            if (i % 5 == 0)
            {
                await Task.Delay(60, Ct); // across several shipped segments
            }
        }

        await pool.FlushBackupAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(writes[^1].Transaction, pool.GetStatistics().Backup!.TransactionId);
        Assert.True((await Target.ListAsync(pool.Database + "/", Ct)).Count > 3, "several segments");

        foreach (var k in new[] { 0, 1, 6, 17, 39 })
        {
            var byId = Directory.File($"tx-{k}.db");
            var restored = await BackupRestore.RestoreAsync(Target, pool.Database, new RestorePoint(Transaction: writes[k].Transaction), byId, Ct);
            Assert.Equal(writes[k].Transaction, restored.Transaction);
            Assert.Equal(writes.Take(k + 1).Select(w => w.Id), Ids(byId));

            var byTime = Directory.File($"at-{k}.db");
            await BackupRestore.RestoreAsync(Target, pool.Database, new RestorePoint(Time: writes[k].After), byTime, Ct);
            Assert.Equal(writes.Take(k + 1).Select(w => w.Id), Ids(byTime));
        }

        await AssertLatestEqualsAsync(pool, "latest.db");
    }

    [Theory]
    [InlineData("directory")]
    [InlineData("azure")]
    public async Task A_schema_change_a_vacuum_and_a_truncate_checkpoint_while_shipping_keep_the_chain_whole(string target)
    {
        Use(target);
        var pool = await OpenAsync(Backup());
        await pool.ExecuteAsync(new Statement("CREATE TABLE t(id INTEGER PRIMARY KEY, v)"), Ct);
        await pool.ExecuteAsync(new Statement("INSERT INTO t(v) WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200) SELECT randomblob(2000) FROM n"), Ct);
        await pool.ExecuteAsync(new Statement("ALTER TABLE t ADD COLUMN w DEFAULT 'new'"), Ct);
        await pool.ExecuteAsync(new Statement("CREATE INDEX t_w ON t(w)"), Ct);
        await pool.ExecuteAsync(new Statement("DELETE FROM t WHERE id % 2 = 0"), Ct);
        await pool.ExecuteAsync(new Statement("VACUUM"), Ct);
        await pool.GovernWalAsync(); // the governor checkpoints after a quiet look
        Assert.Contains("TRUNCATE", await pool.GovernWalAsync() ?? "");
        await pool.ExecuteAsync(new Statement("UPDATE t SET v = 'after' WHERE id < 50"), Ct);
        await pool.ExecuteAsync(new Statement("INSERT INTO t(v) VALUES ('last')"), Ct);
        await pool.FlushBackupAsync(TimeSpan.FromSeconds(30));

        await AssertLatestEqualsAsync(pool, "restored.db");
        var (snapshots, _) = BackupChain.Parse(pool.Database, await Target.ListAsync(pool.Database + "/", Ct));
        Assert.Single(snapshots); // one chain from the first snapshot: nothing broke it
    }

    [Theory]
    [InlineData("directory")]
    [InlineData("azure")]
    public async Task A_database_that_opens_again_goes_on_with_its_chain(string target)
    {
        Use(target);
        var pool = await OpenAsync(Backup());
        await pool.ExecuteAsync(new Statement("CREATE TABLE t(id INTEGER PRIMARY KEY, v)"), Ct);
        await pool.ExecuteAsync(new Statement("INSERT INTO t(v) VALUES (1)"), Ct);
        await pool.CloseAsync();

        pool = await OpenAsync(Backup());
        var written = await pool.ExecuteAsync(new Statement("INSERT INTO t(v) VALUES (2)"), Ct);
        await pool.FlushBackupAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(written.TransactionId, pool.GetStatistics().Backup!.TransactionId);
        var (snapshots, _) = BackupChain.Parse(pool.Database, await Target.ListAsync(pool.Database + "/", Ct));
        Assert.Single(snapshots);
        await AssertLatestEqualsAsync(pool, "restored.db");
    }

    [Fact]
    public async Task With_AckAfterBackup_a_write_the_target_cannot_store_fails_and_is_stored_once_it_can()
    {
        var pool = await OpenAsync(Backup(b => (b.AckAfterBackup, b.AckTimeout) = (true, TimeSpan.FromSeconds(1))));
        await pool.ExecuteAsync(new Statement("CREATE TABLE t(id INTEGER PRIMARY KEY, v)"), Ct);

        // The target's folder replaced by a file: nothing can be stored.
        System.IO.Directory.Move(Directory.File("backup"), Directory.File("backup-away"));
        await File.WriteAllTextAsync(Directory.File("backup"), "in the way", Ct);
        var refused = await Assert.ThrowsAsync<BackupNotStoredException>(() => pool.ExecuteAsync(new Statement("INSERT INTO t(v) VALUES ('unacknowledged')"), Ct));
        Assert.True(refused.TransactionId > 0);
        var outcomes = await pool.ExecuteEachAsync([new Statement("INSERT INTO t(v) VALUES ('a')"), new Statement("INSERT INTO nope VALUES (1)")]);
        Assert.IsType<BackupNotStoredException>(outcomes[0].Error);
        Assert.IsType<SqlStatementException>(outcomes[1].Error);
        Assert.NotNull(pool.GetStatistics().Backup!.Error);

        File.Delete(Directory.File("backup"));
        System.IO.Directory.Move(Directory.File("backup-away"), Directory.File("backup"));
        var stored = await pool.ExecuteAsync(new Statement("INSERT INTO t(v) VALUES ('acknowledged')"), Ct);
        Assert.True(pool.GetStatistics().Backup!.TransactionId >= stored.TransactionId);
        await AssertLatestEqualsAsync(pool, "restored.db");
    }

    private async Task AssertLatestEqualsAsync(DatabasePool pool, string name)
    {
        await BackupRestore.RestoreAsync(Target, pool.Database, RestorePoint.Latest, Directory.File(name), Ct);
        var expected = (await pool.QueryAsync(new Statement(Fingerprint), Ct))[0, 0];
        Assert.Equal(expected, Scalar(Directory.File(name), Fingerprint));
    }

    internal static object? Scalar(string path, string sql)
    {
        using var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Pooling = false }.ToString());
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        return command.ExecuteScalar();
    }

    internal static List<long> Ids(string path)
    {
        using var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Pooling = false }.ToString());
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT id FROM t ORDER BY id";
        using var reader = command.ExecuteReader();
        var ids = new List<long>();
        while (reader.Read())
        {
            ids.Add(reader.GetInt64(0));
        }

        return ids;
    }
}
