using System.Collections;
using System.Reflection;
using Microsoft.Extensions.Time.Testing;
using SqlitePool.Engine;
using SqlitePool.Hosting;

namespace SqlitePool.Tests.Engine;

/// <summary>The shared sweeper under long timeouts and a wall clock that steps, the registry's memory of closed pools,
/// and which connection closes last when an idle database closes.</summary>
public sealed class SweeperClockTests : PoolTestBase
{
    [Fact]
    public async Task A_database_idle_timeout_of_60_days_plans_its_visit_without_failing_the_sweepers_timer()
    {
        var time = new FakeTimeProvider();
        var pool = await OpenAsync(o => (o.DatabaseIdleTimeout, o.AcquireTimeout) = (TimeSpan.FromDays(60), TimeSpan.FromMilliseconds(200)), time, "long-idle.db");

        // The pool goes quiet: its next visit is 60 days out, past what one timer can be set to. The fake clock runs the
        // sweeper's timer inside Advance, so a failure to arm it would surface here.
        time.Advance(TimeSpan.FromSeconds(1));
        time.Advance(TimeSpan.FromDays(59));

        Assert.False(pool.IsClosed);
        time.Advance(TimeSpan.FromDays(2));
        Assert.True(pool.IsClosed);
    }

    [Fact]
    public async Task A_waiter_times_out_after_the_wall_clock_steps_back()
    {
        var time = new SteppedClock();
        var pool = await OpenAsync(o => o.AcquireTimeout = TimeSpan.FromMilliseconds(300), time, "stepped.db");
        await using var held = await pool.AcquireAsync(LeaseKind.Writer, Ct);

        time.Offset = -TimeSpan.FromHours(1);
        var waiting = pool.AcquireAsync(LeaseKind.Writer, Ct);

        // Bounded only so a regression fails instead of hanging: the sweeper must not wait for the wall clock's hour.
        var outcome = await Record.ExceptionAsync(() => waiting.WaitAsync(TimeSpan.FromSeconds(30), Ct));
        Assert.IsType<DatabaseTimeoutException>(outcome);
    }

    [Fact]
    public async Task The_registry_keeps_no_closed_pool()
    {
        var time = new FakeTimeProvider();
        await using var registry = new DatabasePoolRegistry(time, fileBudget: new OpenFileBudget(1_000_000));
        for (var i = 0; i < 20; i++)
        {
            var pool = await registry.GetOrOpenAsync($"c{i}.db", Directory.File($"c{i}.db"), new DatabaseOptions(), null);
            await pool.ExecuteAsync(new Statement("CREATE TABLE t(v)"), Ct);
            await pool.CloseAsync();
        }

        Assert.Empty(registry.OpenPools);
        var clock = (ICollection)typeof(DatabasePoolRegistry).GetField("_clock", BindingFlags.NonPublic | BindingFlags.Instance)!.GetValue(registry)!;
        Assert.Empty(clock);
    }

    [Fact]
    public async Task An_idle_close_leaves_the_log_for_the_next_open_whichever_connection_closes_last()
    {
        var time = new FakeTimeProvider();
        await using var registry = new DatabasePoolRegistry(time);
        var path = Directory.File("idle-log.db");
        var options = new DatabaseOptions { DatabaseIdleTimeout = TimeSpan.FromMinutes(2), ReaderIdleTimeout = TimeSpan.FromMinutes(2), CheckpointInterval = TimeSpan.FromHours(1) };
        var pool = await registry.GetOrOpenAsync("idle-log.db", path, options, null);
        await pool.ExecuteAsync(new Statement("CREATE TABLE t(v)"), Ct);
        await pool.ExecuteAsync(new Statement("INSERT INTO t VALUES (1)"), Ct);
        Assert.Equal(1L, (await pool.QueryAsync(new Statement("SELECT count(*) FROM t"), Ct))[0, 0]);

        // One visit finds both the reader and the database idle.
        for (var i = 0; i < 30 && !pool.IsClosed; i++)
        {
            time.Advance(TimeSpan.FromSeconds(10));
            await pool.Governing;
        }

        Assert.True(pool.IsClosed);
        await pool.CloseAsync().WaitAsync(TimeSpan.FromSeconds(30), Ct);

        // No checkpoint at this close, neither the writer's nor SQLite's at the last connection's close: the log stays.
        Assert.True(new FileInfo(path + "-wal").Length > 0);
        var reopened = await registry.GetOrOpenAsync("idle-log.db", path, options, null);
        Assert.Equal(1L, (await reopened.QueryAsync(new Statement("SELECT count(*) FROM t"), Ct))[0, 0]);
    }

    /// <summary>The system clock and timers, with a wall clock that can be stepped (NTP, a VM resumed, an operator).</summary>
    private sealed class SteppedClock : TimeProvider
    {
        public TimeSpan Offset { get; set; }

        public override DateTimeOffset GetUtcNow() => System.GetUtcNow() + Offset;
    }
}
