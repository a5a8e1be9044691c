using Microsoft.Extensions.Time.Testing;
using SqlitePool.Engine;
using SqlitePool.Hosting;
using SqlitePool.Tests.Support;

namespace SqlitePool.Tests.Engine;

/// <summary>Connections live only while used, and housekeeping visits only databases with something due.</summary>
public sealed class IdleTests : PoolTestBase
{
    [Fact]
    public async Task An_idle_reader_closes_and_the_next_reader_lease_opens_one()
    {
        var time = new FakeTimeProvider();
        var pool = await OpenAsync(o => o.ReaderIdleTimeout = TimeSpan.FromSeconds(10), time);
        await pool.ExecuteAsync(new Statement("CREATE TABLE t(v)"), Ct);
        await pool.ExecuteAsync(new Statement("INSERT INTO t VALUES (1)"), Ct);
        Assert.Equal(1L, await CountOnReaderAsync(pool));
        Assert.Equal(1, pool.GetStatistics().ReadersOpen);

        time.Advance(TimeSpan.FromSeconds(5));
        Assert.Equal(1, pool.GetStatistics().ReadersOpen);
        time.Advance(TimeSpan.FromSeconds(6));

        Assert.Equal(0, pool.GetStatistics().ReadersOpen);
        Assert.Equal(1L, await CountOnReaderAsync(pool));
        Assert.Equal(1, pool.GetStatistics().ReadersOpen);
    }

    private static async Task<object?> CountOnReaderAsync(DatabasePool pool)
    {
        await using var lease = await pool.AcquireAsync(LeaseKind.Reader, Ct);
        return (await lease.QueryAsync(new Statement("SELECT count(*) FROM t"), Ct))[0, 0];
    }

    [Fact]
    public async Task A_reader_in_use_is_not_closed_however_long_it_runs()
    {
        var time = new FakeTimeProvider();
        var pool = await OpenAsync(o => o.ReaderIdleTimeout = TimeSpan.FromSeconds(10), time);
        await using var lease = await pool.AcquireAsync(LeaseKind.Reader, Ct);

        time.Advance(TimeSpan.FromSeconds(20));

        Assert.Equal(1, pool.GetStatistics().ReadersOpen);
        Assert.Equal(1L, (await lease.QueryAsync(new Statement("SELECT 1"), Ct))[0, 0]);
    }

    [Fact]
    public async Task An_idle_database_closes_releases_its_lock_file_and_reopens_with_its_data()
    {
        var time = new FakeTimeProvider();
        await using var registry = new DatabasePoolRegistry(time);
        var path = Directory.File("idle.db");
        var options = new DatabaseOptions { DatabaseIdleTimeout = TimeSpan.FromMinutes(2) };
        var pool = await registry.GetOrOpenAsync("idle.db", path, options, null);
        await pool.ExecuteAsync(new Statement("CREATE TABLE t(v)"), Ct);
        await pool.ExecuteAsync(new Statement("INSERT INTO t VALUES ('kept')"), Ct);

        await PassAsync(time, TimeSpan.FromMinutes(1), pool);
        Assert.False(pool.IsClosed);
        await PassAsync(time, TimeSpan.FromMinutes(1.5), pool);

        Assert.True(pool.IsClosed);
        await pool.CloseAsync().WaitAsync(TimeSpan.FromSeconds(30), Ct);
        Assert.Null(registry.Find(path));
        using (new FileStream(path + ".lock", FileMode.Open, FileAccess.ReadWrite, FileShare.None))
        {
            // The lock file is free: the closed pool holds nothing.
        }

        var reopened = await registry.GetOrOpenAsync("idle.db", path, options, null);
        Assert.NotSame(pool, reopened);
        Assert.Equal("kept", (await reopened.QueryAsync(new Statement("SELECT v FROM t"), Ct))[0, 0]);
    }

    [Fact]
    public async Task A_database_in_use_does_not_close_for_idleness()
    {
        var time = new FakeTimeProvider();
        var pool = await OpenAsync(o => o.DatabaseIdleTimeout = TimeSpan.FromMinutes(2), time);
        await pool.ExecuteAsync(new Statement("CREATE TABLE t(v)"), Ct);

        // A use every minute for five minutes, through the silo-local fast path among others.
        for (var minute = 0; minute < 5; minute++)
        {
            await PassAsync(time, TimeSpan.FromMinutes(1), pool);
            using (var lease = pool.AcquireLocal(LeaseKind.Reader))
            {
                using var command = lease.Connection.CreateCommand();
                command.CommandText = "SELECT count(*) FROM t";
                command.ExecuteScalar();
            }
        }

        Assert.False(pool.IsClosed);
        await PassAsync(time, TimeSpan.FromMinutes(3), pool);
        Assert.True(pool.IsClosed);
    }

    [Fact]
    public async Task A_database_whose_change_tracking_stopped_closes_when_idle_and_reports_nothing_more()
    {
        var time = new FakeTimeProvider();
        var pool = await OpenAsync(o => o.DatabaseIdleTimeout = TimeSpan.FromMinutes(2), time);
        await pool.ExecuteAsync(new Statement("CREATE TABLE t(v)"), Ct);
        await pool.TrackChangesAsync();
        await pool.ExecuteAsync(new Statement("INSERT INTO t VALUES (1)"), Ct);
        Assert.Equal(["t"], pool.TakeChangedTables());

        await PassAsync(time, TimeSpan.FromMinutes(3), pool);
        Assert.False(pool.IsClosed); // a database with change subscribers stays open

        await pool.StopTrackingChangesAsync();
        await pool.ExecuteAsync(new Statement("INSERT INTO t VALUES (2)"), Ct);
        Assert.Empty(pool.TakeChangedTables());
        Assert.Equal(2, await CountAsync(pool));
        await PassAsync(time, TimeSpan.FromMinutes(3), pool);

        Assert.True(pool.IsClosed);
    }

    /// <summary>Lets <paramref name="span"/> pass a second at a time, each second's checkpoint (real work on the
    /// scheduler) done before the next, as it would be on a real clock.</summary>
    private static async Task PassAsync(FakeTimeProvider time, TimeSpan span, DatabasePool pool)
    {
        for (var passed = TimeSpan.Zero; passed < span; passed += TimeSpan.FromSeconds(1))
        {
            time.Advance(TimeSpan.FromSeconds(1));
            await pool.Governing;
        }
    }

    [Fact]
    public async Task Idle_databases_are_not_visited_by_housekeeping_until_a_deadline_of_theirs_comes()
    {
        var time = new FakeTimeProvider();
        var sweeper = PoolSweeper.For(time);
        var pools = new List<DatabasePool>();
        for (var i = 0; i < 50; i++)
        {
            pools.Add(await OpenAsync(o => (o.DatabaseIdleTimeout, o.LeaseIdleTimeout) = (TimeSpan.FromMinutes(10), TimeSpan.FromMinutes(10)), time, $"quiet{i}.db"));
        }

        // Each is visited once after opening (its opening used it), then not until its idle deadline.
        time.Advance(TimeSpan.FromSeconds(10));
        var settled = sweeper.Visits;
        for (var step = 0; step < 60; step++)
        {
            time.Advance(TimeSpan.FromSeconds(1));
        }

        Assert.Equal(settled, sweeper.Visits);

        // One database in use (a lease well within its limits): it alone is visited, once per sweep period (a quarter
        // of the shortest limit, AcquireTimeout's 15 s), while it is busy.
        await using var lease = await pools[0].AcquireAsync(LeaseKind.Writer, Ct);
        for (var step = 0; step < 10; step++)
        {
            time.Advance(TimeSpan.FromSeconds(5));
        }

        Assert.InRange(sweeper.Visits - settled, 10, 11);
    }
}
