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
            var closing = pool.CloseAsync();
            time.Advance(TimeSpan.FromSeconds(5));
            await closing.WaitAsync(Liveness, Ct);

            // The fence is released: the file opens again, with its data.
            await using var reopened = await DatabasePool.OpenAsync("test.db", Directory.File("test.db"), new DatabaseOptions());
            Assert.Equal(1L, await CountAsync(reopened));

            // The holders learn late; giving the connections back closes them.
            forgotten.Dispose();
            reader.Dispose();
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
    public async Task A_local_writer_left_behind_by_the_close_can_no_longer_write_once_the_file_has_a_new_pool()
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

            var closing = pool.CloseAsync();
            time.Advance(TimeSpan.FromSeconds(5));
            await closing.WaitAsync(Liveness, Ct);
            await using var reopened = await DatabasePool.OpenAsync("test.db", Directory.File("test.db"), new DatabaseOptions { BusyTimeout = TimeSpan.Zero });

            // Its transaction was rolled back, and what it tries next is refused: one writer per file.
            Assert.Equal(0L, await CountAsync(reopened));
            using var late = forgotten.Connection.CreateCommand();
            late.CommandText = "INSERT INTO t VALUES ('late')";
            Assert.Throws<Microsoft.Data.Sqlite.SqliteException>(() => late.ExecuteNonQuery());
            Assert.Equal(1L, (await reopened.ExecuteAsync(new Statement("INSERT INTO t VALUES ('new pool')"), Ct)).Changes);
            Assert.Equal(["new pool"], (await reopened.QueryAsync(new Statement("SELECT v FROM t"), Ct)).Values);
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
}
