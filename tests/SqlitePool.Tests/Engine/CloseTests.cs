using Microsoft.Extensions.Time.Testing;
using SqlitePool.Engine;
using SqlitePool.Hosting;

namespace SqlitePool.Tests.Engine;

/// <summary>Closing is bounded by <c>CloseTimeout</c>: statement timeouts keep working while it drains, past the
/// bound holders lose their connections, the lock file is always released, and a closing pool is never handed out.</summary>
public sealed class CloseTests : PoolTestBase
{
    private static readonly TimeSpan Liveness = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task A_local_lease_never_disposed_holds_the_close_up_only_until_CloseTimeout()
    {
        var time = new FakeTimeProvider();
        var pool = await OpenAsync(o => o.CloseTimeout = TimeSpan.FromSeconds(5), time);
        await pool.ExecuteAsync(new Statement("CREATE TABLE t(v); INSERT INTO t VALUES (1)"), Ct);
        var forgotten = pool.AcquireLocal(LeaseKind.Writer);
        var reader = pool.AcquireLocal(LeaseKind.Reader);
        try
        {
            await CloseAfterItsLimitAsync(pool, time);

            // The close is done, but the writer it could not take back keeps the lock file: no second writer.
            await Assert.ThrowsAsync<DatabaseLockedException>(() => DatabasePool.OpenAsync("test.db", Directory.File("test.db"), new DatabaseOptions()));

            // The holders learn late; giving the connections back closes them, and the writer's frees the file.
            reader.Dispose();
            forgotten.Dispose();
            await using var reopened = await DatabasePool.OpenAsync("test.db", Directory.File("test.db"), new DatabaseOptions());
            Assert.Equal(1L, await CountAsync(reopened));
            Assert.Equal(2L, (await reopened.ExecuteAsync(new Statement("INSERT INTO t VALUES (2)"), Ct)).LastInsertRowId);
        }
        finally
        {
            forgotten.Dispose();
            reader.Dispose();
        }
    }

    [Fact]
    public async Task Statement_timeouts_go_on_while_a_close_drains()
    {
        var time = new FakeTimeProvider();
        var pool = await OpenAsync(o => o.StatementTimeout = TimeSpan.FromSeconds(1), time);
        using var lease = pool.AcquireLocal(LeaseKind.Reader);
        using var entered = new SemaphoreSlim(0);
        lease.Connection.CreateFunction("entered", () => entered.Release());
        lease.Dispose();
        var runaway = pool.QueryAsync(new Statement("WITH RECURSIVE c(x) AS (SELECT entered() UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"), Ct);
        Assert.True(await entered.WaitAsync(Liveness, Ct));

        var closing = pool.CloseAsync();
        time.Advance(TimeSpan.FromSeconds(2));

        await Assert.ThrowsAsync<DatabaseTimeoutException>(() => runaway.WaitAsync(Liveness, Ct));
        await closing.WaitAsync(Liveness, Ct);
    }

    [Fact]
    public async Task The_registry_never_hands_out_a_closing_pool()
    {
        var time = new FakeTimeProvider();
        var path = Directory.File("registry.db");
        await using var registry = new DatabasePoolRegistry(time);
        var pool = await registry.GetOrOpenAsync("registry.db", path, new DatabaseOptions(), null);
        var held = pool.AcquireLocal(LeaseKind.Reader);
        try
        {
            var closing = pool.CloseAsync();
            var next = registry.GetOrOpenAsync("registry.db", path, new DatabaseOptions(), null);
            time.Advance(TimeSpan.FromMinutes(1));
            await closing.WaitAsync(Liveness, Ct);
            var reopened = await next.WaitAsync(Liveness, Ct);

            Assert.NotSame(pool, reopened);
            Assert.Equal(1L, (await reopened.QueryAsync(new Statement("SELECT 1"), Ct))[0, 0]);
        }
        finally
        {
            held.Dispose();
        }
    }

    [Fact]
    public async Task A_local_writer_left_behind_by_the_close_is_revoked_and_its_transaction_never_commits()
    {
        var time = new FakeTimeProvider();
        var pool = await OpenAsync(o => o.CloseTimeout = TimeSpan.FromSeconds(5), time);
        await pool.ExecuteAsync(new Statement("CREATE TABLE t(v)"), Ct);
        var forgotten = pool.AcquireLocal(LeaseKind.Writer);
        try
        {
            using (var begin = forgotten.Connection.CreateCommand())
            {
                begin.CommandText = "BEGIN IMMEDIATE; INSERT INTO t VALUES ('uncommitted')";
                begin.ExecuteNonQuery();
            }

            await CloseAfterItsLimitAsync(pool, time);

            // Revoked: what its holder tries next is refused, its COMMIT included.
            using var late = forgotten.Connection.CreateCommand();
            late.CommandText = "INSERT INTO t VALUES ('late')";
            Assert.Throws<Microsoft.Data.Sqlite.SqliteException>(() => late.ExecuteNonQuery());
            late.CommandText = "COMMIT";
            Assert.Throws<Microsoft.Data.Sqlite.SqliteException>(() => late.ExecuteNonQuery());
            forgotten.Dispose();

            await using var reopened = await DatabasePool.OpenAsync("test.db", Directory.File("test.db"), new DatabaseOptions());
            Assert.Equal(0L, await CountAsync(reopened));
            Assert.Equal(1L, (await reopened.ExecuteAsync(new Statement("INSERT INTO t VALUES ('new pool')"), Ct)).Changes);
        }
        finally
        {
            forgotten.Dispose();
        }
    }

    [Fact]
    public async Task A_registry_that_has_closed_its_pools_opens_no_more()
    {
        var registry = new DatabasePoolRegistry(TimeProvider.System);
        await registry.DisposeAsync();

        await Assert.ThrowsAsync<DatabaseClosedException>(() => registry.GetOrOpenAsync("late.db", Directory.File("late.db"), new DatabaseOptions(), null));
        Assert.False(File.Exists(Directory.File("late.db")));
    }

    [Fact]
    public async Task Writes_still_queued_when_the_close_gives_up_never_commit_and_the_file_stays_locked_until_the_writer_closes()
    {
        var time = new FakeTimeProvider();
        using var entered = new SemaphoreSlim(0);
        using var leave = new SemaphoreSlim(0);
        var pool = await OpenAsync(o => o.CloseTimeout = TimeSpan.FromSeconds(5), time);
        await pool.ExecuteAsync(new Statement("CREATE TABLE t(v)"), Ct);
        using (var lease = pool.AcquireLocal(LeaseKind.Writer))
        {
            lease.Connection.CreateFunction("hold", () =>
            {
                entered.Release();
                return leave.Wait(Liveness) ? 1L : 0L;
            });
        }

        var holder = await pool.AcquireAsync(LeaseKind.Writer, Ct);
        var slow = pool.ExecuteAsync(new Statement("INSERT INTO t SELECT hold()"), Ct);
        var grouped = pool.ExecuteAsync(new Statement("INSERT INTO t VALUES ('grouped')"), Ct);
        var alone = pool.ExecuteAsync(new Statement("PRAGMA user_version = 42"), Ct);
        await holder.DisposeAsync();
        Assert.True(await entered.WaitAsync(Liveness, Ct));

        // Past both limits the close is done, but the writer is still in the user function: the file stays locked.
        await CloseAfterItsLimitAsync(pool, time, limits: 2);
        await Assert.ThrowsAsync<DatabaseLockedException>(() => DatabasePool.OpenAsync("test.db", Directory.File("test.db"), new DatabaseOptions()));

        leave.Release();
        foreach (var write in new[] { slow, grouped, alone })
        {
            await Assert.ThrowsAsync<DatabaseClosedException>(() => write.WaitAsync(Liveness, Ct));
        }

        var reopened = await OpenWhenFreeAsync();
        await using (reopened)
        {
            Assert.Equal(0L, await CountAsync(reopened));
            Assert.Equal(0L, (await reopened.QueryAsync(new Statement("PRAGMA user_version"), Ct))[0, 0]);
        }
    }

    [Fact]
    public async Task An_incremental_blob_of_a_revoked_writer_neither_crashes_nor_keeps_the_file()
    {
        var time = new FakeTimeProvider();
        var pool = await OpenAsync(o => o.CloseTimeout = TimeSpan.FromSeconds(5), time);
        await pool.ExecuteAsync(new Statement("CREATE TABLE t(b BLOB); INSERT INTO t VALUES (zeroblob(8))"), Ct);
        var lease = pool.AcquireLocal(LeaseKind.Writer);
        try
        {
            var blob = new Microsoft.Data.Sqlite.SqliteBlob(lease.Connection, "t", "b", 1);
            blob.Write([1, 1, 1, 1], 0, 4);
            await CloseAfterItsLimitAsync(pool, time);

            // Whatever SQLite makes of it, the process lives on, and the file is the next pool's once the lease ends.
            _ = Record.Exception(() => blob.Write([9, 9, 9, 9], 0, 4));
            _ = Record.Exception(blob.Dispose);
        }
        finally
        {
            lease.Dispose();
        }

        await using var reopened = await DatabasePool.OpenAsync("test.db", Directory.File("test.db"), new DatabaseOptions());
        Assert.Equal("ok", (await reopened.QueryAsync(new Statement("PRAGMA integrity_check"), Ct))[0, 0]);
    }

    /// <summary>Closes a pool whose CloseTimeout is 5 s, moving its clock past the limit <paramref name="limits"/> times.</summary>
    private static async Task CloseAfterItsLimitAsync(DatabasePool pool, FakeTimeProvider time, int limits = 1)
    {
        var closing = pool.CloseAsync();
        for (var i = 0; i < limits; i++)
        {
            time.Advance(TimeSpan.FromSeconds(5));
        }

        await closing.WaitAsync(Liveness, Ct);
    }

    /// <summary>Opens the file again once the old pool's writer has closed and released it.</summary>
    private async Task<DatabasePool> OpenWhenFreeAsync()
    {
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        limit.CancelAfter(Liveness);
        while (true)
        {
            try
            {
                return await DatabasePool.OpenAsync("test.db", Directory.File("test.db"), new DatabaseOptions());
            }
            catch (DatabaseLockedException)
            {
                await Task.Delay(10, limit.Token);
            }
        }
    }
}
