using Microsoft.Extensions.Time.Testing;
using SqlitePool.Engine;
using SqlitePool.Engine.Backup;
using SqlitePool.Tests.Engine;

namespace SqlitePool.Tests.Backup;

/// <summary>A target that wraps a directory and lets a test fail or hold puts and listings.</summary>
/// <summary>A real directory target whose puts fail, or lose their answer, when a test says so.</summary>
internal sealed class ScriptedTarget(IBackupTarget inner) : IBackupTarget
{
    public Func<string, bool>? FailPutBefore; // true: throw without storing
    public Func<string, bool>? FailPutAfter;  // true: store, then throw (a put whose answer was lost)
    public Func<string, Task>? BeforeThrowAfter;
    public Task ListGate = Task.CompletedTask;

    public async Task PutAsync(string key, ReadOnlyMemory<byte> content, CancellationToken cancellationToken = default)
    {
        if (FailPutBefore?.Invoke(key) == true)
        {
            throw new IOException($"scripted failure before storing {key}");
        }

        await inner.PutAsync(key, content, cancellationToken);
        if (FailPutAfter?.Invoke(key) == true)
        {
            if (BeforeThrowAfter is not null)
            {
                await BeforeThrowAfter(key);
            }

            throw new TimeoutException($"scripted lost answer after storing {key}");
        }
    }

    public Task<byte[]?> GetAsync(string key, CancellationToken cancellationToken = default) => inner.GetAsync(key, cancellationToken);

    public async Task<IReadOnlyList<string>> ListAsync(string prefix, CancellationToken cancellationToken = default)
    {
        await ListGate.WaitAsync(cancellationToken);
        return await inner.ListAsync(prefix, cancellationToken);
    }

    public Task DeleteAsync(string key, CancellationToken cancellationToken = default) => inner.DeleteAsync(key, cancellationToken);
}

/// <summary>Faults a review proved against the first continuous backup: each test failed before its fix.</summary>
public sealed class BackupChainFaultTests : PoolTestBase
{
    private DirectoryBackupTarget Dir => new(Directory.File("backup"));

    private Task<DatabasePool> OpenAsync(Action<SqlitePool.Hosting.DatabaseOptions> configure, bool closeTimeout) =>
        OpenAsync(o => { configure(o); o.CloseTimeout = TimeSpan.FromSeconds(2); });

    private static int Count(string path) => (int)(long)ContinuousBackupTests.Scalar(path, "SELECT count(*) FROM t")!;

    // F1: the restart snapshot's put fails once; Rebase already un-paused the shipper, so the next step ships segments
    // that continue no stored snapshot, advances _stored and acknowledges AckAfterBackup writers.
    [Fact]
    public async Task F1_a_failed_restart_snapshot_put_must_not_let_segments_be_acknowledged_without_a_snapshot()
    {
        var failed = 0;
        var target = new ScriptedTarget(Dir)
        {
            FailPutBefore = key => key.Contains("/snapshots/") && Interlocked.Exchange(ref failed, 1) == 0,
        };
        var pool = await OpenAsync(o => o.Backup = new BackupOptions
        {
            Target = target, Interval = TimeSpan.FromMilliseconds(50), AckAfterBackup = true, AckTimeout = TimeSpan.FromSeconds(3),
        }, closeTimeout: true);

        // This first write may be refused (its commit went into the snapshot whose put failed, and no snapshot is
        // ever tried again: nothing is pending, _paused is false, the catalog has no snapshot to age).
        var first = await Record.ExceptionAsync(() => pool.ExecuteAsync(new Statement("CREATE TABLE t(id INTEGER PRIMARY KEY, v)"), Ct));
        Assert.True(first is null or BackupNotStoredException);
        var acked = await pool.ExecuteAsync(new Statement("INSERT INTO t(v) VALUES ('acknowledged')"), Ct); // answered: "stored"
        Assert.Equal(1, Volatile.Read(ref failed));
        Assert.True(pool.GetStatistics().Backup!.TransactionId >= acked.TransactionId);

        // Every acknowledged write must be restorable.
        var restored = await BackupRestore.RestoreAsync(Dir, pool.Database, RestorePoint.Latest, Directory.File("latest.db"), Ct);
        Assert.Equal(1, Count(Directory.File("latest.db")));
        Assert.True(restored.Transaction >= acked.TransactionId);
    }

    // F2: a database recreated (file and lock file gone) counts ids from 0; the commits made before the uploader has
    // listed the target get ids the old chain already holds, and the restart snapshot then skips past them.
    [Fact]
    public async Task F2_ids_given_before_the_chain_is_listed_must_not_name_another_databases_state()
    {
        var target = new ScriptedTarget(Dir);
        var options = (Action<SqlitePool.Hosting.DatabaseOptions>)(o => o.Backup = new BackupOptions { Target = target, Interval = TimeSpan.FromMilliseconds(50) });
        var old = await OpenAsync(options);
        await old.ExecuteAsync(new Statement("CREATE TABLE t(id INTEGER PRIMARY KEY, v)"), Ct);
        for (var i = 0; i < 5; i++)
        {
            await old.ExecuteAsync(new Statement("INSERT INTO t(v) VALUES ('old')"), Ct);
        }

        await old.FlushBackupAsync(TimeSpan.FromSeconds(30));
        await old.CloseAsync();
        foreach (var suffix in new[] { "", "-wal", "-shm", ".lock" })
        {
            File.Delete(Directory.File("test.db") + suffix);
        }

        // A slow listing (any remote target): the open waits for it, so no id is given before the stored floor is known.
        var listed = new TaskCompletionSource();
        target.ListGate = listed.Task;
        _ = Task.Delay(300, Ct).ContinueWith(_ => listed.SetResult(), TaskScheduler.Default);
        var pool = await OpenAsync(options);
        var created = await pool.ExecuteAsync(new Statement("CREATE TABLE t(id INTEGER PRIMARY KEY, v)"), Ct);
        Assert.True(created.TransactionId > 6, $"the first id {created.TransactionId} goes past the 6 stored");
        var mine = await pool.ExecuteAsync(new Statement("INSERT INTO t(v) VALUES ('new')"), Ct);
        await pool.FlushBackupAsync(TimeSpan.FromSeconds(30));

        // A restore to the id the pool returned for 'new' holds 'new', never the old database's state.
        var path = Directory.File("mine.db");
        await BackupRestore.RestoreAsync(Dir, pool.Database, new RestorePoint(Transaction: mine.TransactionId), path, Ct);
        Assert.Equal("new", ContinuousBackupTests.Scalar(path, "SELECT group_concat(v) FROM t"));
    }

    // F3: a periodic snapshot at T while a record <= T is still pending; commits past MaxPendingBytes squash that record
    // with later ones into one record spanning T; the segment stored then starts before T+1, and a restore to the latest
    // point reads the snapshot at T and stops there.
    [Fact]
    public async Task F3_a_squash_across_a_periodic_snapshot_must_not_hide_later_commits_from_a_latest_restore()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 12, 1, 0, 0, 0, TimeSpan.Zero));
        var pool = await OpenAsync(o =>
        {
            o.DatabaseIdleTimeout = Timeout.InfiniteTimeSpan;
            o.Backup = new BackupOptions
            {
                Target = Dir, Interval = TimeSpan.FromHours(1), SnapshotInterval = TimeSpan.FromMinutes(1), MaxPendingBytes = 64 << 10,
            };
        }, time);
        await pool.ExecuteAsync(new Statement("CREATE TABLE t(id INTEGER PRIMARY KEY, v)"), Ct);
        await pool.ExecuteAsync(new Statement("INSERT INTO t(v) VALUES ('x')"), Ct);
        await pool.FlushBackupAsync(TimeSpan.FromSeconds(30));

        await pool.ExecuteAsync(new Statement("UPDATE t SET v = 'before snapshot'"), Ct); // pending: not due for an hour
        time.Advance(TimeSpan.FromMinutes(2));
        await pool.MaintainBackupAsync(); // periodic snapshot at T; the UPDATE's record stays pending
        var (snapshots, _) = BackupChain.Parse(pool.Database, await Dir.ListAsync(pool.Database + "/", Ct));
        Assert.Equal(2, snapshots.Count);

        for (var i = 0; i < 40; i++)
        {
            // Each commit rewrites the same few pages: past 64 KiB pending they squash into one small record.
            await pool.ExecuteAsync(new Statement("UPDATE t SET v = ?", $"after {i} " + new string('y', 3000)), Ct);
        }

        Assert.Null(pool.GetStatistics().Backup!.Error); // squashed, not dropped: no restart
        await pool.FlushBackupAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(pool.TransactionId, pool.GetStatistics().Backup!.TransactionId);

        await BackupRestore.RestoreAsync(Dir, pool.Database, RestorePoint.Latest, Directory.File("latest.db"), Ct);
        Assert.StartsWith("after 39", (string)ContinuousBackupTests.Scalar(Directory.File("latest.db"), "SELECT v FROM t")!);
    }

    // F4: a restore to a time inside a millisecond: the key's time rounds up, so the first segment whose key passes the
    // point is applied record by record and the restore stops there, missing later segments committed before the point.
    [Fact]
    public async Task F4_a_restore_to_a_time_within_a_millisecond_holds_every_commit_at_or_before_it()
    {
        var start = new DateTimeOffset(2026, 12, 1, 0, 0, 0, TimeSpan.Zero);
        var time = new FakeTimeProvider(start);
        var pool = await OpenAsync(o =>
        {
            o.DatabaseIdleTimeout = Timeout.InfiniteTimeSpan;
            o.Backup = new BackupOptions { Target = Dir, AckAfterBackup = true }; // each write is shipped as it is answered
        }, time);
        await pool.ExecuteAsync(new Statement("CREATE TABLE t(id INTEGER PRIMARY KEY, v)"), Ct);

        time.SetUtcNow(start.AddMilliseconds(10).AddTicks(1000)); // x.1 ms
        await pool.ExecuteAsync(new Statement("INSERT INTO t(v) VALUES ('a')"), Ct);
        time.SetUtcNow(start.AddMilliseconds(10).AddTicks(2000)); // x.2 ms, its own segment
        await pool.ExecuteAsync(new Statement("INSERT INTO t(v) VALUES ('b')"), Ct);

        var point = start.AddMilliseconds(10).AddTicks(3000); // x.3 ms: both committed at or before it
        await BackupRestore.RestoreAsync(Dir, pool.Database, new RestorePoint(Time: point), Directory.File("at.db"), Ct);
        Assert.Equal(2, Count(Directory.File("at.db")));
    }

    // F5: a segment put that stored but whose answer was lost is retried as a different batch (commits came meanwhile):
    // two level-0 segments start at the same id, and the greedy restore takes the short one into a dead end.
    [Fact]
    public async Task F5_a_retried_segment_put_must_not_make_stored_points_unrestorable()
    {
        var target = new ScriptedTarget(Dir);
        var pool = await OpenAsync(o => o.Backup = new BackupOptions { Target = target, Interval = TimeSpan.FromMilliseconds(50) });
        await pool.ExecuteAsync(new Statement("CREATE TABLE t(id INTEGER PRIMARY KEY, v)"), Ct);
        await pool.FlushBackupAsync(TimeSpan.FromSeconds(30));

        var more = new TaskCompletionSource();
        var once = 0;
        target.FailPutAfter = key => key.Contains("/segments/") && Interlocked.Exchange(ref once, 1) == 0;
        target.BeforeThrowAfter = _ => more.Task;
        var first = await pool.ExecuteAsync(new Statement("INSERT INTO t(v) VALUES (1)"), Ct);
        await Task.Delay(300, Ct); // shipped (stored, answer held back)
        var second = await pool.ExecuteAsync(new Statement("INSERT INTO t(v) VALUES (2)"), Ct);
        var third = await pool.ExecuteAsync(new Statement("INSERT INTO t(v) VALUES (3)"), Ct);
        more.SetResult(); // the first put now "fails"; the retry ships first..third as one segment
        await pool.FlushBackupAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(third.TransactionId, pool.GetStatistics().Backup!.TransactionId);

        var restored = await BackupRestore.RestoreAsync(Dir, pool.Database, new RestorePoint(Transaction: second.TransactionId), Directory.File("second.db"), Ct);
        Assert.Equal(second.TransactionId, restored.Transaction);
        Assert.Equal(2, Count(Directory.File("second.db")));
        _ = first;
    }

    // F6: with AckAfterBackup, an autocommit write through a writer lease's QueryAsync (INSERT ... RETURNING) is answered
    // before it is stored.
    [Fact]
    public async Task F6_a_lease_query_that_commits_is_answered_only_once_stored()
    {
        var target = new ScriptedTarget(Dir);
        var pool = await OpenAsync(o => o.Backup = new BackupOptions
        {
            Target = target, Interval = TimeSpan.FromMilliseconds(50), AckAfterBackup = true, AckTimeout = TimeSpan.FromMilliseconds(500),
        }, closeTimeout: true);
        await pool.ExecuteAsync(new Statement("CREATE TABLE t(id INTEGER PRIMARY KEY, v)"), Ct);
        target.FailPutBefore = _ => true; // the target is down
        await using var lease = await pool.AcquireAsync(LeaseKind.Writer, Ct);
        await Assert.ThrowsAsync<BackupNotStoredException>(() => lease.QueryAsync(new Statement("INSERT INTO t(v) VALUES ('q') RETURNING id"), Ct));
    }

    // F7: the database is restored in place to an earlier point P (pool closed, file and log deleted, the lock file
    // kept): Carry keeps the higher mark M, the open counts M with certainty and trusts the stored chain, which ends at
    // M; the chain goes on, and the new commits' pages are applied on top of state M, not P.
    [Fact]
    public async Task F7_a_database_restored_in_place_to_an_earlier_point_must_not_continue_the_later_chain()
    {
        var options = (Action<SqlitePool.Hosting.DatabaseOptions>)(o => o.Backup = new BackupOptions { Target = Dir, Interval = TimeSpan.FromMilliseconds(50) });
        var pool = await OpenAsync(options);
        await pool.ExecuteAsync(new Statement("CREATE TABLE t(id INTEGER PRIMARY KEY, v)"), Ct);
        await pool.FlushBackupAsync(TimeSpan.FromSeconds(30)); // the chain's first snapshot is before 'a'
        var a = await pool.ExecuteAsync(new Statement("INSERT INTO t(v) WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 50) SELECT 'a' || randomblob(500) FROM n"), Ct);
        await pool.FlushBackupAsync(TimeSpan.FromSeconds(30));
        await pool.ExecuteAsync(new Statement("INSERT INTO t(v) WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 400) SELECT 'b' || randomblob(500) FROM n"), Ct);
        await pool.FlushBackupAsync(TimeSpan.FromSeconds(30));
        await pool.CloseAsync();

        File.Delete(Directory.File("test.db"));
        File.Delete(Directory.File("test.db") + "-wal");
        File.Delete(Directory.File("test.db") + "-shm");
        await BackupRestore.RestoreAsync(Dir, "test.db", new RestorePoint(Transaction: a.TransactionId), Directory.File("test.db"), Ct);

        pool = await OpenAsync(options);
        Assert.Equal(50L, (await pool.QueryAsync(new Statement("SELECT count(*) FROM t"), Ct))[0, 0]);
        await pool.ExecuteAsync(new Statement("INSERT INTO t(v) VALUES ('d')"), Ct);
        await pool.FlushBackupAsync(TimeSpan.FromSeconds(30));

        await BackupRestore.RestoreAsync(Dir, pool.Database, RestorePoint.Latest, Directory.File("latest.db"), Ct);
        var expected = (await pool.QueryAsync(new Statement(ContinuousBackupTests.Fingerprint), Ct))[0, 0];
        Assert.Equal(expected, ContinuousBackupTests.Scalar(Directory.File("latest.db"), ContinuousBackupTests.Fingerprint));
    }

    [Fact]
    public async Task F9_a_close_while_the_target_is_down_does_not_hold_the_database_for_CloseTimeout()
    {
        var target = new ScriptedTarget(Dir);
        var pool = await OpenAsync(o =>
        {
            o.CloseTimeout = TimeSpan.FromSeconds(5);
            o.Backup = new BackupOptions { Target = target, Interval = TimeSpan.FromMilliseconds(50) };
        });
        await pool.ExecuteAsync(new Statement("CREATE TABLE t(id INTEGER PRIMARY KEY, v)"), Ct);
        await pool.FlushBackupAsync(TimeSpan.FromSeconds(30));
        target.FailPutBefore = _ => true;
        await pool.ExecuteAsync(new Statement("INSERT INTO t(v) VALUES (1)"), Ct);

        var watch = System.Diagnostics.Stopwatch.StartNew();
        var closing = pool.CloseAsync();
        await Task.Delay(500, Ct);
        var reopen = await Record.ExceptionAsync(() => DatabasePool.OpenAsync("test.db", Directory.File("test.db"), new SqlitePool.Hosting.DatabaseOptions()));
        await closing;
        TestContext.Current.SendDiagnosticMessage($"close took {watch.ElapsedMilliseconds} ms; reopen during it: {reopen?.GetType().Name}");
        Assert.Null(reopen);
    }

    // Finding 10: commits dropped while the target was away, then a snapshot restarted the chain; a restore to a time
    // between the last stored commit and that snapshot cannot know which of the lost commits it should hold.
    [Fact]
    public async Task F10_a_restore_to_a_time_inside_a_gap_refuses_rather_than_guess()
    {
        var target = new ScriptedTarget(Dir);
        var pool = await OpenAsync(o => o.Backup = new BackupOptions { Target = target, Interval = TimeSpan.FromMilliseconds(50), MaxPendingBytes = 1 });
        await pool.ExecuteAsync(new Statement("CREATE TABLE t(id INTEGER PRIMARY KEY, v)"), Ct);
        await pool.FlushBackupAsync(TimeSpan.FromSeconds(30));
        var stored = DateTimeOffset.UtcNow;
        target.FailPutBefore = _ => true;
        await pool.ExecuteAsync(new Statement("INSERT INTO t(v) VALUES ('lost')"), Ct); // past MaxPendingBytes: dropped
        var inGap = DateTimeOffset.UtcNow;
        await Task.Delay(20, Ct);
        await pool.ExecuteAsync(new Statement("INSERT INTO t(v) VALUES ('lost too')"), Ct);
        target.FailPutBefore = null;
        await pool.FlushBackupAsync(TimeSpan.FromSeconds(30)); // the restart's snapshot holds it
        await Task.Delay(20, Ct);

        // Refused, unless a restart's snapshot happened to be taken (and stored) right after 'lost': then it is exact.
        var refused = await Record.ExceptionAsync(() => BackupRestore.RestoreAsync(Dir, pool.Database, new RestorePoint(Time: inGap), Directory.File("gap.db"), Ct));
        if (refused is null)
        {
            Assert.Equal("lost", ContinuousBackupTests.Scalar(Directory.File("gap.db"), "SELECT group_concat(v) FROM t"));
        }
        else
        {
            Assert.Contains("falls in a gap", Assert.IsType<SqlitePoolException>(refused).Message, StringComparison.Ordinal);
        }
        await BackupRestore.RestoreAsync(Dir, pool.Database, new RestorePoint(Time: DateTimeOffset.UtcNow), Directory.File("after.db"), Ct);
        Assert.Equal("lost,lost too", ContinuousBackupTests.Scalar(Directory.File("after.db"), "SELECT group_concat(v) FROM t"));
        await BackupRestore.RestoreAsync(Dir, pool.Database, new RestorePoint(Time: stored), Directory.File("before.db"), Ct);
        Assert.Equal(0L, ContinuousBackupTests.Scalar(Directory.File("before.db"), "SELECT count(*) FROM t"));
    }
}
