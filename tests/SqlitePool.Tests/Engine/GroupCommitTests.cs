namespace SqlitePool.Tests.Engine;

/// <summary>Writes waiting together commit together; each keeps its own outcome.</summary>
public sealed class GroupCommitTests : PoolTestBase
{
    [Fact]
    public async Task Concurrent_writes_share_commits_and_a_failing_one_fails_only_its_caller()
    {
        var pool = await OpenAsync();
        await pool.ExecuteAsync(new Statement("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT NOT NULL)"), Ct);

        // Hold the writer so the writes queue up and are taken as groups.
        var holder = await pool.AcquireAsync(LeaseKind.Writer, Ct);
        var writes = Enumerable.Range(1, 64).Select(i => pool.ExecuteAsync(
            i % 10 == 0
                ? new Statement("INSERT INTO t(id, v) VALUES (?, NULL)", i) // NOT NULL: fails
                : new Statement("INSERT INTO t(id, v) VALUES (?, ?)", i, $"v{i}"), Ct)).ToList();
        var pragma = pool.ExecuteAsync(new Statement("PRAGMA user_version = 7"), Ct); // cannot share a transaction
        var batch = pool.ExecuteBatchAsync([new Statement("INSERT INTO t(id, v) VALUES (100, 'b')"), new Statement("INSERT INTO t(id, v) VALUES (1, 'dup')")], Ct);
        await holder.DisposeAsync();

        await Task.WhenAll(writes.Select(w => w.ContinueWith(_ => { }, TaskScheduler.Default)));
        await pragma;
        var batchError = await Assert.ThrowsAsync<SqlStatementException>(() => batch);

        Assert.Equal(1, batchError.StatementIndex);
        for (var i = 1; i <= 64; i++)
        {
            if (i % 10 == 0)
            {
                var error = await Assert.ThrowsAsync<SqlStatementException>(() => writes[i - 1]);
                Assert.Equal(19, error.ErrorCode);
            }
            else
            {
                Assert.Equal(i, (await writes[i - 1]).LastInsertRowId);
            }
        }

        var ids = (await pool.QueryAsync(new Statement("SELECT id FROM t ORDER BY id"), Ct)).Values.Cast<long>().ToArray();
        Assert.Equal(Enumerable.Range(1, 64).Where(i => i % 10 != 0).Select(i => (long)i), ids);
        Assert.Equal(7L, (await pool.QueryAsync(new Statement("PRAGMA user_version"), Ct))[0, 0]);
        var stats = pool.GetStatistics();
        Assert.True(stats.Commits < 20, $"{stats.Commits} commits for 66 writes: they were not grouped");
    }

    [Fact]
    public async Task A_write_that_commits_midway_is_refused_whole_and_the_group_commits()
    {
        var pool = await OpenAsync();
        await pool.ExecuteAsync(new Statement("CREATE TABLE t(v)"), Ct);
        var holder = await pool.AcquireAsync(LeaseKind.Writer, Ct);
        var before = pool.ExecuteAsync(new Statement("INSERT INTO t VALUES (1)"), Ct);
        var sneaky = pool.ExecuteAsync(new Statement("INSERT INTO t VALUES (2); COMMIT"), Ct);
        var after = pool.ExecuteAsync(new Statement("INSERT INTO t VALUES (3)"), Ct);
        await holder.DisposeAsync();

        await before;
        await after;
        var error = await Assert.ThrowsAsync<StatementNotAllowedException>(() => sneaky);

        // The COMMIT ended neither the group's transaction nor a transaction of its own: refused by name, and the
        // INSERT before it in the same text was undone with it.
        Assert.Contains("'COMMIT'", error.Message, StringComparison.Ordinal);
        Assert.Equal([1L, 3L], (await pool.QueryAsync(new Statement("SELECT v FROM t ORDER BY v"), Ct)).Values.Cast<long>());
        Assert.Equal(0, pool.GetStatistics().WriterWaiters);
    }

    [Fact]
    public async Task A_write_breaking_a_deferred_foreign_key_fails_alone_and_the_group_commits()
    {
        var pool = await OpenAsync();
        await pool.ExecuteBatchAsync(
        [
            new Statement("CREATE TABLE parent(id INTEGER PRIMARY KEY)"),
            new Statement("CREATE TABLE child(id INTEGER PRIMARY KEY, parent INTEGER REFERENCES parent(id) DEFERRABLE INITIALLY DEFERRED)"),
            new Statement("INSERT INTO parent VALUES (1)"),
        ], Ct);
        var holder = await pool.AcquireAsync(LeaseKind.Writer, Ct);
        var good = pool.ExecuteAsync(new Statement("INSERT INTO child VALUES (1, 1)"), Ct);
        var orphan = pool.ExecuteAsync(new Statement("INSERT INTO child VALUES (2, 99)"), Ct);
        var alsoGood = pool.ExecuteAsync(new Statement("INSERT INTO child VALUES (3, 1)"), Ct);
        await holder.DisposeAsync();

        await good;
        await alsoGood;
        var error = await Assert.ThrowsAsync<SqlStatementException>(() => orphan);
        Assert.Equal(19, error.ErrorCode);
        Assert.Equal([1L, 3L], (await pool.QueryAsync(new Statement("SELECT id FROM child ORDER BY id"), Ct)).Values.Cast<long>());
    }

    [Fact]
    public async Task A_cancelled_write_in_a_waiting_group_is_cancelled_and_the_others_commit()
    {
        var pool = await OpenAsync();
        await pool.ExecuteAsync(new Statement("CREATE TABLE t(v)"), Ct);
        var holder = await pool.AcquireAsync(LeaseKind.Writer, Ct);
        using var cancel = new CancellationTokenSource();
        var kept = pool.ExecuteAsync(new Statement("INSERT INTO t VALUES (1)"), Ct);
        var cancelled = pool.ExecuteAsync(new Statement("INSERT INTO t VALUES (2)"), cancel.Token);
        await cancel.CancelAsync();
        await holder.DisposeAsync();

        await kept;
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => cancelled);
        Assert.Equal([1L], (await pool.QueryAsync(new Statement("SELECT v FROM t"), Ct)).Values.Cast<long>());
    }
}
