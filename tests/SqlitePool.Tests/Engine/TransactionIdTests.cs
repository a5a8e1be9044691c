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
            var count = TransactionMark.AtOpen(kept, databaseExists: kept is not null, log);
            return (count.Transactions, count.Certain);
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

    [Fact]
    public async Task A_checkpoint_by_sql_is_refused_so_none_runs_unmarked()
    {
        var pool = await OpenAsync();
        await pool.ExecuteAsync(new Statement("CREATE TABLE t(v)"), Ct);
        foreach (var sql in new[] { "PRAGMA wal_checkpoint", "PRAGMA wal_checkpoint(TRUNCATE)", "PRAGMA main.wal_checkpoint(RESTART)" })
        {
            var refused = await Assert.ThrowsAsync<StatementNotAllowedException>(() => pool.ExecuteAsync(new Statement(sql), Ct));
            Assert.Contains("AllowPragmaChanges", refused.Message);
        }

        await pool.ExecuteAsync(new Statement("INSERT INTO t VALUES (1)"), Ct);
        Assert.Equal(2, pool.TransactionId);
    }

    [Fact]
    public async Task After_a_crash_the_next_id_follows_the_last_one_given()
    {
        var pool = await OpenAsync();
        await pool.ExecuteAsync(new Statement("CREATE TABLE t(id INTEGER PRIMARY KEY, v)"), Ct);
        await InsertAsync(pool, 4);
        await pool.GovernWalAsync(); // a marked checkpoint, then more commits in the new log
        await InsertAsync(pool, 3);
        var last = pool.TransactionId;
        await CrashCopy(pool, "crash.db");

        var reopened = await OpenAsync(name: "crash.db");
        Assert.False(reopened.TransactionIdsJumped);
        Assert.Equal(last, reopened.TransactionId);
        Assert.Equal(last + 1, (await reopened.ExecuteAsync(new Statement("INSERT INTO t(v) VALUES (1)"), Ct)).TransactionId);
    }

    [Fact]
    public async Task An_open_that_fails_after_a_crash_leaves_the_log_for_the_next_one()
    {
        var pool = await OpenAsync();
        await pool.ExecuteAsync(new Statement("CREATE TABLE t(id INTEGER PRIMARY KEY, v)"), Ct);
        await InsertAsync(pool, 4);
        var last = pool.TransactionId;
        await CrashCopy(pool, "crash.db");

        var options = new SqlitePool.Hosting.DatabaseOptions();
        await Assert.ThrowsAsync<SqlitePoolException>(() => DatabasePool.OpenAsync("crash.db", Directory.File("crash.db"), options, onOpened: _ => throw new InvalidOperationException("a migration failed")));
        Assert.True(new FileInfo(Directory.File("crash.db-wal")).Length > 0);

        var reopened = await OpenAsync(name: "crash.db");
        Assert.Equal(last + 1, (await reopened.ExecuteAsync(new Statement("INSERT INTO t(v) VALUES (1)"), Ct)).TransactionId);
    }

    [Fact]
    public async Task A_crash_in_the_first_log_after_a_close_for_good_is_counted_exactly()
    {
        var pool = await OpenAsync();
        await pool.ExecuteAsync(new Statement("CREATE TABLE t(id INTEGER PRIMARY KEY, v)"), Ct);
        await pool.CloseAsync();
        pool = await OpenAsync();
        await InsertAsync(pool, 2);
        await CrashCopy(pool, "crash.db");

        var reopened = await OpenAsync(name: "crash.db");
        Assert.False(reopened.TransactionIdsJumped);
        Assert.Equal(3, reopened.TransactionId);
    }

    [Fact]
    public async Task A_lost_lock_file_makes_the_ids_jump_rather_than_repeat()
    {
        var pool = await OpenAsync();
        await pool.ExecuteAsync(new Statement("CREATE TABLE t(id INTEGER PRIMARY KEY, v)"), Ct);
        await InsertAsync(pool, 4);
        await pool.CloseAsync();
        File.Delete(Directory.File("test.db.lock"));

        pool = await OpenAsync();
        Assert.True(pool.TransactionIdsJumped);
        Assert.True(pool.TransactionId > 5);
    }

    [Fact]
    public async Task An_open_hook_that_replaces_the_WAL_hook_leaves_the_count_going_and_jumped()
    {
        var pool = await DatabasePool.OpenAsync("hook.db", Directory.File("hook.db"), new SqlitePool.Hosting.DatabaseOptions(), onOpened: c =>
        {
            using var command = c.Connection.CreateCommand();
            command.CommandText = "PRAGMA wal_autocheckpoint = 1000; CREATE TABLE t(id INTEGER PRIMARY KEY, v);";
            command.ExecuteNonQuery();
        });
        try
        {
            Assert.True(pool.TransactionIdsJumped);
            var first = (await pool.ExecuteAsync(new Statement("INSERT INTO t(v) VALUES (1)"), Ct)).TransactionId;
            var second = (await pool.ExecuteAsync(new Statement("INSERT INTO t(v) VALUES (2)"), Ct)).TransactionId;
            Assert.Equal(first + 1, second);
        }
        finally
        {
            await pool.CloseAsync();
        }
    }

    [Fact]
    public void An_open_counts_a_large_log_without_holding_its_pages()
    {
        // A big transaction spilled into the log, then rolled back: the tail an open reads past.
        var path = Directory.File("big.db");
        using var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Pooling = false }.ToString());
        connection.Open();
        Exec(connection, "PRAGMA journal_mode = WAL; PRAGMA wal_autocheckpoint = 0; PRAGMA cache_size = 10; CREATE TABLE t(v)");
        Exec(connection, "BEGIN; INSERT INTO t SELECT randomblob(4000) FROM (WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5000) SELECT i FROM n)");
        var log = new FileInfo(path + "-wal").Length;

        var before = GC.GetAllocatedBytesForCurrentThread();
        var count = TransactionMark.AtOpen(null, databaseExists: false, path + "-wal");
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Exec(connection, "ROLLBACK");

        Assert.Equal(1, count.Transactions);
        Assert.True(allocated < log / 10, $"counting in a {log:N0}-byte log allocated {allocated:N0} bytes");
    }

    [Fact]
    public async Task A_lock_file_that_fails_stops_the_checkpoint_in_a_commit_and_nothing_else()
    {
        var pool = await OpenAsync();
        await pool.ExecuteAsync(new Statement("CREATE TABLE t(v)"), Ct);

        // Any I/O error of the lock file (EIO at its sync, ENOSPC): its handle fails.
        pool.LockFile.SafeFileHandle.Dispose();

        // A commit of more than 1,000 frames: the hook would mark, then checkpoint.
        await pool.ExecuteAsync(new Statement(
            "INSERT INTO t SELECT randomblob(4000) FROM (WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1200) SELECT i FROM n)"), Ct);
        Assert.Equal(2, pool.TransactionId);
        Assert.True(pool.GetStatistics().WalFramesToCheckpoint > 1000);
        Assert.Equal(1, pool.GetStatistics().TransactionMarkFailures);
        await pool.GovernWalAsync(); // the first look finds writes since the last; the second, quiet, checkpoints
        Assert.Contains("skipped", await pool.GovernWalAsync());
        Assert.Equal(2, pool.GetStatistics().TransactionMarkFailures);
    }

    // A crash image of an open pool: its database, log and lock file as they are on disk now, under another name. The
    // database and log are read through SQLite's own handles (opening them beside SQLite would drop its locks).
    private async Task CrashCopy(DatabasePool pool, string name)
    {
        await using var writer = await pool.AcquireAsync(LeaseKind.Writer, Ct);
        var (database, log) = await writer.RunAsync(c => (SqliteLogFile.ReadDatabase(c.Handle!), ReadLog(c.Handle!)), Ct);
        File.WriteAllBytes(Directory.File(name), database);
        if (log.Length > 0)
        {
            File.WriteAllBytes(Directory.File(name) + "-wal", log);
        }

        var mark = new byte[(int)RandomAccess.GetLength(pool.LockFile.SafeFileHandle)];
        RandomAccess.Read(pool.LockFile.SafeFileHandle, mark, 0);
        File.WriteAllBytes(Directory.File(name) + ".lock", mark);
    }

    // The log's header and every whole frame after it.
    private static byte[] ReadLog(SQLitePCL.sqlite3 db)
    {
        var header = new byte[WalFormat.HeaderSize];
        if (!SqliteLogFile.TryRead(db, header, 0) || WalFormat.ReadHeader(header) is not { } log)
        {
            return [];
        }

        using var bytes = new MemoryStream();
        bytes.Write(header);
        var frame = new byte[log.FrameSize];
        while (SqliteLogFile.TryRead(db, frame, bytes.Length))
        {
            bytes.Write(frame);
        }

        return bytes.ToArray();
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
