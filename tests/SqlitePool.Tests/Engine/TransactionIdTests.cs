using Microsoft.Data.Sqlite;
using SqlitePool.Engine;
using SqlitePool.Engine.Backup;

namespace SqlitePool.Tests.Engine;

/// <summary>
/// Every commit takes the next transaction id, which writes' results carry; ids go on across closes (with and without a
/// checkpoint), checkpoints that start the log over, and an open after a crash, and never repeat.
/// </summary>
public sealed class TransactionIdTests : PoolTestBase
{
    [Fact]
    public async Task Each_commit_takes_the_next_id_and_a_batch_or_a_commit_group_shares_one()
    {
        var pool = await OpenAsync();
        Assert.Equal(0, pool.TransactionId);
        Assert.Equal(1, (await pool.ExecuteAsync(new Statement("CREATE TABLE t(id INTEGER PRIMARY KEY, v)"), Ct)).TransactionId);
        Assert.Equal(2, (await pool.ExecuteAsync(new Statement("INSERT INTO t(v) VALUES (1)"), Ct)).TransactionId);

        var batch = await pool.ExecuteBatchAsync([new Statement("INSERT INTO t(v) VALUES (2)"), new Statement("INSERT INTO t(v) VALUES (3)")], Ct);
        Assert.Equal([3, 3], batch.Select(r => r.TransactionId));

        // Nothing changed: no commit, and the result names the last one.
        Assert.Equal(3, (await pool.ExecuteAsync(new Statement("UPDATE t SET v = 0 WHERE id < 0"), Ct)).TransactionId);

        var each = await pool.ExecuteEachAsync([.. Enumerable.Range(0, 20).Select(i => new Statement("INSERT INTO t(v) VALUES (?)", i))]);
        var ids = each.Select(o => o.Result!.TransactionId).ToList();
        Assert.All(ids, id => Assert.InRange(id, 4, pool.TransactionId));
        Assert.Equal(ids.Order(), ids);
        Assert.Equal(ids.Distinct().Count(), pool.TransactionId - 3);

        await using var writer = await pool.AcquireAsync(LeaseKind.Writer, Ct);
        await writer.ExecuteAsync(new Statement("BEGIN"), Ct);
        var inside = await writer.ExecuteAsync(new Statement("INSERT INTO t(v) VALUES (99)"), Ct);
        var commit = await writer.ExecuteAsync(new Statement("COMMIT"), Ct);
        Assert.Equal(commit.TransactionId - 1, inside.TransactionId);
        Assert.Equal(pool.TransactionId, commit.TransactionId);
    }

    [Fact]
    public async Task Ids_go_on_after_closes_with_and_without_a_checkpoint_and_after_the_log_starts_over()
    {
        var pool = await OpenAsync(o => o.WalLimitBytes = 1 << 14);
        await pool.ExecuteAsync(new Statement("CREATE TABLE t(id INTEGER PRIMARY KEY, v)"), Ct);
        await InsertAsync(pool, 5);
        Assert.Equal(6, pool.TransactionId);

        // Retired (idle, or for room): no checkpoint, the log stays for the next open.
        await pool.RetireIfQuiet()!;
        Assert.True(File.Exists(Directory.File("test.db-wal")) && new FileInfo(Directory.File("test.db-wal")).Length > 0);
        pool = await OpenAsync();
        Assert.Equal(6, pool.TransactionId);
        Assert.Equal(7, (await pool.ExecuteAsync(new Statement("INSERT INTO t(v) VALUES (randomblob(3000))"), Ct)).TransactionId);

        // The governor's checkpoints start the log over (the limit is 16 KiB); past SQLite's 1,000 frames the pool's own
        // PASSIVE checkpoint runs inside a commit.
        for (var round = 0; round < 3; round++)
        {
            await InsertAsync(pool, 10);
            await pool.GovernWalAsync();
        }

        await pool.ExecuteAsync(new Statement("INSERT INTO t(v) SELECT randomblob(3000) FROM t, t AS u LIMIT 600"), Ct);
        await InsertAsync(pool, 3);
        var before = pool.TransactionId;
        Assert.Equal(7 + 30 + 1 + 3, before);

        // Closed for good: checkpointed and the log truncated.
        await pool.CloseAsync();
        pool = await OpenAsync();
        Assert.Equal(before, pool.TransactionId);
        Assert.Equal(before + 1, (await pool.ExecuteAsync(new Statement("INSERT INTO t(v) VALUES (1)"), Ct)).TransactionId);
    }

    [Fact]
    public void An_open_after_a_crash_counts_the_commits_after_the_mark_and_jumps_when_it_cannot_know()
    {
        var path = Directory.File("crash.db");
        using var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Pooling = false }.ToString());
        connection.Open();
        Exec(connection, "PRAGMA journal_mode = WAL; PRAGMA wal_autocheckpoint = 0; CREATE TABLE t(v)");
        var log = path + "-wal";
        Assert.Equal((1L, true), Count(null));

        // The mark the pool writes before a checkpoint: 10 transactions at the log's end.
        var mark = new TransactionMark(10, WalReader.Read(log, after: null).Transactions[^1].End);
        Exec(connection, "INSERT INTO t VALUES (1)");
        Exec(connection, "INSERT INTO t VALUES (2)");
        Assert.Equal((12L, true), Count(mark));

        // The checkpoint copied everything back; the next write started the log over (its first salt one more).
        Exec(connection, "PRAGMA wal_checkpoint(RESTART)");
        var restartMark = new TransactionMark(12, WalReader.Read(log, after: null).Transactions[^1].End);
        Exec(connection, "INSERT INTO t VALUES (3)");
        Assert.Equal((13L, true), Count(restartMark));

        // Truncated: a mark of no log, and every commit of the new log is after it.
        Exec(connection, "PRAGMA wal_checkpoint(TRUNCATE)");
        Assert.Equal((13L, true), Count(new TransactionMark(13, default)));
        Exec(connection, "INSERT INTO t VALUES (4)");
        Assert.Equal((14L, true), Count(new TransactionMark(13, default)));

        // Started over twice since the mark (a checkpoint the pool did not run): the count jumps rather than repeat.
        var (jumped, certain) = Count(restartMark);
        Assert.False(certain);
        Assert.True(jumped > 14 + TransactionMark.UncertainJump - 100);

        (long, bool) Count(TransactionMark? kept)
        {
            var (transactions, sure, _) = TransactionMark.AtOpen(kept, log);
            return (transactions, sure);
        }
    }

    [Fact]
    public void A_mark_round_trips_through_the_lock_file_and_a_damaged_one_reads_as_none()
    {
        using var file = new FileStream(Directory.File("x.lock"), FileMode.Create, FileAccess.ReadWrite);
        Assert.Null(TransactionMark.Read(file));
        var mark = new TransactionMark(1234567890123, new WalPosition(7, 8, 9, 10, 11));
        mark.Write(file, durable: true);
        Assert.Equal(mark, TransactionMark.Read(file));

        file.Position = 12;
        file.WriteByte(0xFF);
        file.Flush();
        Assert.Null(TransactionMark.Read(file));
    }

    private static async Task InsertAsync(DatabasePool pool, int count)
    {
        for (var i = 0; i < count; i++)
        {
            await pool.ExecuteAsync(new Statement("INSERT INTO t(v) VALUES (randomblob(3000))"), Ct);
        }
    }

    private static void Exec(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }
}
