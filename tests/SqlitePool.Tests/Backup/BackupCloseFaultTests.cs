using SqlitePool.Engine;
using SqlitePool.Engine.Backup;
using SqlitePool.Hosting;
using SqlitePool.Tests.Engine;

namespace SqlitePool.Tests.Backup;

/// <summary>Faults a third review proved in the backup's open and close: each test failed before its fix.</summary>
public sealed class BackupCloseFaultTests : PoolTestBase
{
    private DirectoryBackupTarget Dir => new(Directory.File("backup"));

    private void CopyFiles(string from, string to)
    {
        foreach (var suffix in new[] { "", "-wal", "-shm", ".lock" })
        {
            File.Delete(to + suffix);
            if (File.Exists(from + suffix))
            {
                File.Copy(from + suffix, to + suffix);
            }
        }
    }

    // T1: the file (and its own lock file, mark not foreign) is behind the stored chain: a disk rolled back to a volume
    // snapshot, or a power loss that took the log's unsynced tail (synchronous=NORMAL) after the shipper had stored it.
    // The open is trusted (count certain, own mark) and floor > count; before 624358f that skipped past the floor,
    // now no branch skips: ids repeat ids already answered (AckAfterBackup: as stored) and stored.
    [Fact]
    public async Task T1_a_trusted_file_behind_the_stored_chain_must_not_reuse_stored_ids()
    {
        var options = (Action<DatabaseOptions>)(o =>
        {
            o.CloseTimeout = TimeSpan.FromSeconds(2);
            o.Backup = new BackupOptions { Target = Dir, Interval = TimeSpan.FromMilliseconds(50), AckAfterBackup = true, AckTimeout = TimeSpan.FromSeconds(10) };
        });
        var db = Directory.File("test.db");
        var saved = Directory.File("saved.db");
        var pool = await OpenAsync(options);
        await pool.ExecuteAsync(new Statement("CREATE TABLE t(id INTEGER PRIMARY KEY, v)"), Ct);
        await pool.ExecuteAsync(new Statement("INSERT INTO t(v) VALUES ('a')"), Ct);
        await pool.CloseAsync();
        CopyFiles(db, saved); // the disk as of now

        pool = await OpenAsync(options);
        long last = 0;
        for (var i = 0; i < 3; i++)
        {
            last = (await pool.ExecuteAsync(new Statement("INSERT INTO t(v) VALUES ('gone')"), Ct)).TransactionId; // answered: stored
        }

        await pool.CloseAsync();
        CopyFiles(saved, db); // the disk goes back

        pool = await OpenAsync(options);
        var again = await pool.ExecuteAsync(new Statement("INSERT INTO t(v) VALUES ('new')"), Ct);
        TestContext.Current.SendDiagnosticMessage($"T1: stored up to {last}; the rolled-back file's next commit got id {again.TransactionId}");
        Assert.True(again.TransactionId > last, $"id {again.TransactionId} was already answered and stored (up to {last})");
    }

    // T2: the uploader takes a periodic snapshot as the pool closes (it waited for the writer behind a lease); the close
    // fails it with DatabaseClosedException and RunAsync breaks. StopAsync then flushes into a loop that is gone: the
    // close waits its whole CloseTimeout, and the last commit, which nothing stopped from shipping, is not stored.
    [Fact]
    public async Task T2_a_snapshot_refused_by_the_close_must_not_stop_the_last_commits_shipping()
    {
        var options = (Action<DatabaseOptions>)(o =>
        {
            o.CloseTimeout = TimeSpan.FromSeconds(3);
            o.Backup = new BackupOptions { Target = Dir, Interval = TimeSpan.FromHours(1), SnapshotInterval = TimeSpan.Zero };
        });
        var pool = await OpenAsync(options);
        await pool.ExecuteAsync(new Statement("CREATE TABLE t(id INTEGER PRIMARY KEY, v)"), Ct);
        await pool.FlushBackupAsync(TimeSpan.FromSeconds(10));
        await Task.Delay(300, Ct);

        var lease = await pool.AcquireAsync(LeaseKind.Writer, Ct);
        await lease.ExecuteAsync(new Statement("INSERT INTO t(v) VALUES ('a')"), Ct);
        await pool.FlushBackupAsync(TimeSpan.FromSeconds(10)); // ships it; then the uploader's snapshot waits for the writer
        await Task.Delay(300, Ct);
        var lastCommit = await lease.ExecuteAsync(new Statement("INSERT INTO t(v) VALUES ('b')"), Ct);

        var watch = System.Diagnostics.Stopwatch.StartNew();
        var closing = pool.CloseAsync();
        await Task.Delay(200, Ct);
        await lease.DisposeAsync();
        await closing;
        TestContext.Current.SendDiagnosticMessage($"T2: close took {watch.ElapsedMilliseconds} ms");

        var path = Directory.File("latest.db");
        var restored = await BackupRestore.RestoreAsync(Dir, pool.Database, RestorePoint.Latest, path, Ct);
        TestContext.Current.SendDiagnosticMessage($"T2: last commit {lastCommit.TransactionId}, the target restores to {restored.Transaction}");
        Assert.True(watch.ElapsedMilliseconds < 2500, $"the close took {watch.ElapsedMilliseconds} ms");
        Assert.Equal(lastCommit.TransactionId, restored.Transaction);
    }

    // A periodic snapshot waits for the writer in turn; a writer lease holds it, and with AckAfterBackup the lease's own
    // commit waits to be stored: the snapshot must not hold the shipping up meanwhile.
    [Fact]
    public async Task T3_a_periodic_snapshot_waiting_for_a_leased_writer_holds_no_commit_of_the_lease_up()
    {
        var pool = await OpenAsync(o =>
        {
            o.Backup = new BackupOptions { Target = Dir, Interval = TimeSpan.FromMilliseconds(50), SnapshotInterval = TimeSpan.Zero, AckAfterBackup = true, AckTimeout = TimeSpan.FromSeconds(3) };
        });
        await pool.ExecuteAsync(new Statement("CREATE TABLE t(id INTEGER PRIMARY KEY, v)"), Ct);
        await using var lease = await pool.AcquireAsync(LeaseKind.Writer, Ct);
        for (var i = 0; i < 5; i++)
        {
            // Each commit makes a snapshot due; the uploader's waits for the writer this lease holds.
            var written = await lease.ExecuteAsync(new Statement("INSERT INTO t(v) VALUES (?)", i), Ct);
            Assert.True(pool.GetStatistics().Backup!.TransactionId >= written.TransactionId);
            await Task.Delay(100, Ct);
        }
    }

    // Maintenance asked for by hand waits for its snapshot outside the uploader's turn: the lease's commits still ship.
    [Fact]
    public async Task T4_maintenance_asked_for_while_a_lease_holds_the_writer_holds_no_commit_of_the_lease_up()
    {
        var pool = await OpenAsync(o =>
        {
            o.Backup = new BackupOptions { Target = Dir, Interval = TimeSpan.FromMilliseconds(50), SnapshotInterval = TimeSpan.Zero, AckAfterBackup = true, AckTimeout = TimeSpan.FromSeconds(3) };
        });
        await pool.ExecuteAsync(new Statement("CREATE TABLE t(id INTEGER PRIMARY KEY, v)"), Ct);
        Task maintaining;
        await using (var lease = await pool.AcquireAsync(LeaseKind.Writer, Ct))
        {
            await lease.ExecuteAsync(new Statement("INSERT INTO t(v) VALUES ('a')"), Ct);
            maintaining = pool.MaintainBackupAsync();
            await Task.Delay(200, Ct);
            var written = await lease.ExecuteAsync(new Statement("INSERT INTO t(v) VALUES ('b')"), Ct);
            Assert.True(pool.GetStatistics().Backup!.TransactionId >= written.TransactionId);
        }

        await maintaining.WaitAsync(TimeSpan.FromSeconds(30), Ct);
    }
}
