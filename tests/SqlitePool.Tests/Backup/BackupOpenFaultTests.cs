using SqlitePool.Engine;
using SqlitePool.Engine.Backup;
using SqlitePool.Tests.Engine;

namespace SqlitePool.Tests.Backup;

/// <summary>A directory target whose listings fail (the first N) or wait (a gate), per call.</summary>
/// <summary>A real directory target whose listings fail, or wait, when a test says so.</summary>
internal sealed class ListFaultTarget(IBackupTarget inner) : IBackupTarget
{
    public int FailLists;
    public Task ListGate = Task.CompletedTask;
    public int Lists;

    public Task PutAsync(string key, ReadOnlyMemory<byte> content, CancellationToken cancellationToken = default) => inner.PutAsync(key, content, cancellationToken);

    public Task<byte[]?> GetAsync(string key, CancellationToken cancellationToken = default) => inner.GetAsync(key, cancellationToken);

    public async Task<IReadOnlyList<string>> ListAsync(string prefix, CancellationToken cancellationToken = default)
    {
        Interlocked.Increment(ref Lists);
        if (Interlocked.Decrement(ref FailLists) >= 0)
        {
            throw new IOException("scripted: the target cannot be listed");
        }

        await ListGate.WaitAsync(cancellationToken);
        return await inner.ListAsync(prefix, cancellationToken);
    }

    public Task DeleteAsync(string key, CancellationToken cancellationToken = default) => inner.DeleteAsync(key, cancellationToken);
}

/// <summary>Faults a second review proved in the backup's open and close: each test failed before its fix.</summary>
public sealed class BackupOpenFaultTests : PoolTestBase
{
    private DirectoryBackupTarget Dir => new(Directory.File("backup"));

    // R1: the open's listing fails (target briefly down) for a database recreated without its lock file: ids start from 0
    // again, are answered (AckAfterBackup: answered as stored once the restart snapshot lands), and name the old chain's
    // states.
    [Fact]
    public async Task R1_a_failed_listing_at_open_must_not_let_ids_repeat_stored_ones()
    {
        var target = new ListFaultTarget(Dir);
        var options = (Action<SqlitePool.Hosting.DatabaseOptions>)(o =>
        {
            o.CloseTimeout = TimeSpan.FromSeconds(2);
            o.Backup = new BackupOptions { Target = target, Interval = TimeSpan.FromMilliseconds(50), AckAfterBackup = true, AckTimeout = TimeSpan.FromSeconds(10) };
        });
        var old = await OpenAsync(options);
        await old.ExecuteAsync(new Statement("CREATE TABLE t(id INTEGER PRIMARY KEY, v)"), Ct);
        for (var i = 0; i < 5; i++)
        {
            await old.ExecuteAsync(new Statement("INSERT INTO t(v) VALUES ('old')"), Ct);
        }

        await old.CloseAsync();
        foreach (var suffix in new[] { "", "-wal", "-shm", ".lock" })
        {
            File.Delete(Directory.File("test.db") + suffix);
        }

        target.FailLists = 1; // only the open's listing fails; the uploader's comes a moment later (a remote target)
        var listed = new TaskCompletionSource();
        target.ListGate = listed.Task;
        _ = Task.Delay(300, Ct).ContinueWith(_ => listed.SetResult(), TaskScheduler.Default);
        var pool = await OpenAsync(options);
        var mine = await pool.ExecuteAsync(new Statement("CREATE TABLE mine(x)"), Ct); // answered: stored
        TestContext.Current.SendDiagnosticMessage($"'CREATE TABLE mine' was answered with id {mine.TransactionId}");

        var path = Directory.File("mine.db");
        await BackupRestore.RestoreAsync(Dir, pool.Database, new RestorePoint(Transaction: mine.TransactionId), path, Ct);
        Assert.Equal(1L, ContinuousBackupTests.Scalar(path, "SELECT count(*) FROM sqlite_schema WHERE name = 'mine'"));
    }

    // R2: with AutoRestore, an existing database cannot open while the target cannot be listed.
    [Fact]
    public async Task R2_auto_restore_must_not_make_an_existing_database_unopenable_while_the_target_is_down()
    {
        var target = new ListFaultTarget(Dir);
        var options = (Action<SqlitePool.Hosting.DatabaseOptions>)(o => o.Backup = new BackupOptions { Target = target, Interval = TimeSpan.FromMilliseconds(50), AutoRestore = true });
        var pool = await OpenAsync(options);
        await pool.ExecuteAsync(new Statement("CREATE TABLE t(id INTEGER PRIMARY KEY, v)"), Ct);
        await pool.FlushBackupAsync(TimeSpan.FromSeconds(30));
        await pool.CloseAsync();

        target.FailLists = 1;
        var error = await Record.ExceptionAsync(async () => await OpenAsync(options));
        Assert.Null(error);
    }

    // R3: the pool closes before the uploader learned the chain (its open could not list); the flush at close waits, the
    // listing comes back, the chain must restart, the snapshot cannot be taken (closed): DatabaseClosedException is
    // caught with `continue` and no backoff, a hot loop until the flush times out.
    [Fact]
    public async Task R3_a_close_before_the_chain_is_loaded_must_not_spin()
    {
        var target = new ListFaultTarget(Dir);
        var gate = new TaskCompletionSource();
        target.FailLists = 1;
        target.ListGate = gate.Task;
        var pool = await OpenAsync(o =>
        {
            o.CloseTimeout = TimeSpan.FromSeconds(2);
            o.Backup = new BackupOptions { Target = target, Interval = TimeSpan.FromMilliseconds(50) };
        });
        await pool.ExecuteAsync(new Statement("CREATE TABLE t(id INTEGER PRIMARY KEY, v)"), Ct);

        var thrown = 0;
        EventHandler<System.Runtime.ExceptionServices.FirstChanceExceptionEventArgs> count = (_, e) =>
        {
            if (e.Exception is DatabaseClosedException)
            {
                Interlocked.Increment(ref thrown);
            }
        };
        AppDomain.CurrentDomain.FirstChanceException += count;
        try
        {
            var cpu = System.Diagnostics.Process.GetCurrentProcess().TotalProcessorTime;
            var watch = System.Diagnostics.Stopwatch.StartNew();
            var closing = pool.CloseAsync();
            await Task.Delay(200, Ct);
            gate.SetResult();
            await closing;
            var used = System.Diagnostics.Process.GetCurrentProcess().TotalProcessorTime - cpu;
            TestContext.Current.SendDiagnosticMessage($"close took {watch.ElapsedMilliseconds} ms, {used.TotalMilliseconds:0} ms CPU, {thrown} DatabaseClosedException");
            Assert.True(thrown < 50, $"{thrown} DatabaseClosedException thrown while closing ({used.TotalMilliseconds:0} ms CPU)");
        }
        finally
        {
            AppDomain.CurrentDomain.FirstChanceException -= count;
        }
    }

    // R4: the database's last commit (id X) never reached the target (it was down), the file is lost but its lock file
    // stays; the file is restored from the backup (to R < X): Carry keeps mark X (foreign). The open does not skip (the
    // stored floor is R < X), and the restart snapshot of state R is stored under id X, the id the lost commit was
    // answered with. A restore "to X" then returns a database without commit X.
    [Fact]
    public async Task R4_a_foreign_files_restart_snapshot_must_not_take_an_id_already_given()
    {
        var target = new ScriptedTarget(Dir);
        var options = (Action<SqlitePool.Hosting.DatabaseOptions>)(o =>
        {
            o.CloseTimeout = TimeSpan.FromSeconds(2);
            o.Backup = new BackupOptions { Target = target, Interval = TimeSpan.FromMilliseconds(50) };
        });
        var pool = await OpenAsync(options);
        await pool.ExecuteAsync(new Statement("CREATE TABLE t(id INTEGER PRIMARY KEY, v)"), Ct);
        await pool.ExecuteAsync(new Statement("INSERT INTO t(v) VALUES ('a')"), Ct);
        await pool.FlushBackupAsync(TimeSpan.FromSeconds(30));
        target.FailPutBefore = _ => true; // the target goes down
        var lost = await pool.ExecuteAsync(new Statement("INSERT INTO t(v) VALUES ('b')"), Ct);
        await pool.CloseAsync();
        target.FailPutBefore = null; // and comes back

        foreach (var suffix in new[] { "", "-wal", "-shm" })
        {
            File.Delete(Directory.File("test.db") + suffix);
        }

        var restored = await BackupRestore.RestoreAsync(Dir, "test.db", RestorePoint.Latest, Directory.File("test.db"), Ct);
        Assert.True(restored.Transaction < lost.TransactionId);
        pool = await OpenAsync(options);
        await pool.FlushBackupAsync(TimeSpan.FromSeconds(30)); // the restart snapshot, before anything commits
        await pool.ExecuteAsync(new Statement("INSERT INTO t(v) VALUES ('c')"), Ct);
        await pool.FlushBackupAsync(TimeSpan.FromSeconds(30));

        // Restoring "to X" must hold commit X ('b'), or refuse: X is not a kept point. It must not be state R under X's id.
        var path = Directory.File("x.db");
        var error = await Record.ExceptionAsync(() => BackupRestore.RestoreAsync(Dir, pool.Database, new RestorePoint(Transaction: lost.TransactionId), path, Ct));
        var content = error is null ? ContinuousBackupTests.Scalar(path, "SELECT group_concat(v) FROM t") : null;
        TestContext.Current.SendDiagnosticMessage($"restore to {lost.TransactionId} (restored {restored.Transaction}): {error?.Message ?? content}");
        Assert.True(error is SqlitePoolException || (content as string)?.Contains('b') == true, $"restore to {lost.TransactionId} gave '{content}'");
    }

    [Fact]
    public async Task R5_a_gap_marker_after_uncounted_commits_must_not_let_a_restore_skip_them()
    {
        var options = new SqlitePool.Hosting.DatabaseOptions { CloseTimeout = TimeSpan.FromSeconds(5), Backup = new BackupOptions { Target = Dir, Interval = TimeSpan.FromMilliseconds(50) } };
        var path = Directory.File("test.db");
        var pool = await DatabasePool.OpenAsync("test.db", path, options);
        await pool.ExecuteAsync(new Statement("CREATE TABLE t(id INTEGER PRIMARY KEY, v)"), Ct);
        await pool.ExecuteAsync(new Statement("INSERT INTO t(v) VALUES ('a')"), Ct);
        await pool.FlushBackupAsync(TimeSpan.FromSeconds(30));
        await pool.CloseAsync();
        await Task.Delay(30, Ct);

        // The open hook's pragma replaces the WAL hook: its insert is neither counted nor captured.
        pool = await DatabasePool.OpenAsync("test.db", path, options, onOpened: c =>
        {
            using var command = c.Connection.CreateCommand();
            command.CommandText = "PRAGMA wal_autocheckpoint = 1000; INSERT INTO t(v) VALUES ('migrated');";
            command.ExecuteNonQuery();
        });
        try
        {
            var afterMigration = DateTimeOffset.UtcNow;
            await Task.Delay(50, Ct);
            await pool.ExecuteAsync(new Statement("INSERT INTO t(v) VALUES ('b')"), Ct);
            await pool.FlushBackupAsync(TimeSpan.FromSeconds(30));
            await Task.Delay(50, Ct);
            var refused = await Record.ExceptionAsync(() => BackupRestore.RestoreAsync(Dir, "test.db", new RestorePoint(Time: afterMigration), Directory.File("mid.db"), Ct));
            if (refused is null)
            {
                Assert.Equal("a,migrated", ContinuousBackupTests.Scalar(Directory.File("mid.db"), "SELECT group_concat(v) FROM t"));
            }
        }
        finally
        {
            await pool.CloseAsync();
        }
    }

    [Fact]
    public async Task R6_a_trusted_file_behind_the_chain_must_not_reuse_ids_when_the_open_cannot_list()
    {
        var target = new ListFaultTarget(Dir);
        var options = (Action<SqlitePool.Hosting.DatabaseOptions>)(o =>
        {
            o.CloseTimeout = TimeSpan.FromSeconds(2);
            o.Backup = new BackupOptions { Target = target, Interval = TimeSpan.FromMilliseconds(50), AckAfterBackup = true, AckTimeout = TimeSpan.FromSeconds(10) };
        });
        var (db, saved) = (Directory.File("test.db"), Directory.File("saved.db"));
        var pool = await OpenAsync(options);
        await pool.ExecuteAsync(new Statement("CREATE TABLE t(id INTEGER PRIMARY KEY, v)"), Ct);
        await pool.ExecuteAsync(new Statement("INSERT INTO t(v) VALUES ('a')"), Ct);
        await pool.CloseAsync();
        Copy(db, saved);
        pool = await OpenAsync(options);
        long last = 0;
        for (var i = 0; i < 3; i++)
        {
            last = (await pool.ExecuteAsync(new Statement("INSERT INTO t(v) VALUES ('gone')"), Ct)).TransactionId;
        }

        await pool.CloseAsync();
        Copy(saved, db); // the disk goes back
        target.FailLists = 1;
        pool = await OpenAsync(options);
        var again = await pool.ExecuteAsync(new Statement("INSERT INTO t(v) VALUES ('new')"), Ct);
        Assert.True(again.TransactionId > last, $"id {again.TransactionId} was already answered and stored (up to {last})");
    }

    private static void Copy(string from, string to)
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
}
