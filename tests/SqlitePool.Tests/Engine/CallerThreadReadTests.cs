using SqlitePool.Engine;
using SqlitePool.Hosting;

namespace SqlitePool.Tests.Engine;

/// <summary>
/// Reads from a thread that may be held a moment (<see cref="DatabasePool.QueryOnCallerAsync"/>): with a reader free,
/// the read runs on the calling thread; past <see cref="DatabaseOptions.CallerThreadReadLimit"/> it moves to the
/// scheduler and runs again from the start there; cancellation and statement timeouts stop it as on the scheduler.
/// </summary>
public sealed class CallerThreadReadTests : PoolTestBase
{
    // About 3 million steps of a recursive query: far longer than the limit, and than the time to look at a task.
    private const string LongRead = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 3000000) SELECT count(*) FROM c";

    // The limit is 100 ms here, not the default 1 ms: a point read on a machine busy with other tests can be off the CPU
    // for more than 1 ms and be moved, and the long read passes either.
    private async Task<DatabasePool> OpenWithReaderAsync(Action<DatabaseOptions>? configure = null)
    {
        var pool = await OpenWithRowAsync(o =>
        {
            o.CallerThreadReadLimit = TimeSpan.FromMilliseconds(100);
            configure?.Invoke(o);
        });
        await (await pool.AcquireAsync(LeaseKind.Reader, Ct)).DisposeAsync(); // a reader is open and idle
        return pool;
    }

    [Fact]
    public async Task A_point_read_with_a_reader_free_is_answered_before_the_call_returns()
    {
        var pool = await OpenWithReaderAsync();

        var read = pool.QueryOnCallerAsync(new Statement("SELECT v FROM t WHERE id = 1"), Ct);

        Assert.True(read.IsCompletedSuccessfully, "the read ran on the calling thread");
        Assert.Equal("a", (await read)[0, 0]);
        Assert.Equal(1L, pool.GetStatistics().ReadsOnCaller);
        Assert.Equal(1, pool.GetStatistics().ReadersIdle);
    }

    [Fact]
    public async Task A_read_past_the_limit_moves_to_the_scheduler_and_runs_again_in_full()
    {
        var pool = await OpenWithReaderAsync();

        var read = pool.QueryOnCallerAsync(new Statement(LongRead), Ct);

        Assert.False(read.IsCompleted, "the call returned once the read passed the limit, long before it ends");
        Assert.Equal(3_000_000L, (await read)[0, 0]);
        Assert.Equal(0L, pool.GetStatistics().ReadsOnCaller);
        Assert.Equal("a", (await pool.QueryOnCallerAsync(new Statement("SELECT v FROM t"), Ct))[0, 0]);
        Assert.Equal(1L, pool.GetStatistics().ReadsOnCaller);
    }

    [Fact]
    public async Task A_read_that_passed_the_limit_goes_straight_to_the_scheduler_next_time()
    {
        var pool = await OpenWithReaderAsync();
        Assert.Equal(3_000_000L, (await pool.QueryOnCallerAsync(new Statement(LongRead), Ct))[0, 0]);
        Assert.Equal(1L, pool.LongReads.Count);

        Assert.Equal(3_000_000L, (await pool.QueryOnCallerAsync(new Statement(LongRead), Ct))[0, 0]);

        Assert.Equal(1L, pool.LongReads.Count);
        Assert.Equal("a", (await pool.QueryOnCallerAsync(new Statement("SELECT v FROM t"), Ct))[0, 0]);
        Assert.Equal(1L, pool.GetStatistics().ReadsOnCaller);
    }

    [Fact]
    public async Task A_long_read_tries_its_callers_thread_again_a_minute_later()
    {
        var time = new Microsoft.Extensions.Time.Testing.FakeTimeProvider(DateTimeOffset.UtcNow);
        var pool = await OpenAsync(time: time);
        await pool.QueryAsync(new Statement("SELECT 1"), Ct);
        await pool.QueryOnCallerAsync(new Statement(LongRead), Ct);
        time.Advance(LongReads.Memory - TimeSpan.FromSeconds(1));
        await pool.QueryOnCallerAsync(new Statement(LongRead), Ct);
        Assert.Equal(1L, pool.LongReads.Count);

        time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(3_000_000L, (await pool.QueryOnCallerAsync(new Statement(LongRead), Ct))[0, 0]);

        Assert.Equal(2L, pool.LongReads.Count);
    }

    [Fact]
    public async Task A_read_on_its_callers_thread_is_cancelled_and_the_reader_stays_usable()
    {
        var pool = await OpenWithReaderAsync(o => o.CallerThreadReadLimit = TimeSpan.FromSeconds(1));
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        cancel.CancelAfter(TimeSpan.FromMilliseconds(20));

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => pool.QueryOnCallerAsync(new Statement(LongRead + " -- slow"), cancel.Token));

        Assert.Equal("a", (await pool.QueryOnCallerAsync(new Statement("SELECT v FROM t"), Ct))[0, 0]);
        Assert.Equal(0, pool.GetStatistics().ReadersBusy);
    }

    [Fact]
    public async Task A_read_on_its_callers_thread_times_out_as_on_the_scheduler()
    {
        var pool = await OpenWithReaderAsync(o =>
        {
            o.CallerThreadReadLimit = TimeSpan.FromSeconds(1);
            o.StatementTimeout = TimeSpan.FromMilliseconds(50);
        });

        await Assert.ThrowsAsync<DatabaseTimeoutException>(() => pool.QueryOnCallerAsync(new Statement(LongRead.Replace("3000000", "300000000", StringComparison.Ordinal)), Ct));

        Assert.Equal("a", (await pool.QueryOnCallerAsync(new Statement("SELECT v FROM t"), Ct))[0, 0]);
    }

    [Fact]
    public async Task A_write_is_refused_on_the_callers_thread_as_on_any_read()
    {
        var pool = await OpenWithReaderAsync();

        await Assert.ThrowsAsync<WriteOnReadPathException>(() => pool.QueryOnCallerAsync(new Statement("INSERT INTO t(v) VALUES ('b')"), Ct));

        Assert.Equal(1L, await CountAsync(pool));
    }

    [Fact]
    public async Task With_a_limit_of_zero_every_read_goes_to_the_scheduler()
    {
        var pool = await OpenWithReaderAsync(o => o.CallerThreadReadLimit = TimeSpan.Zero);

        Assert.Equal("a", (await pool.QueryOnCallerAsync(new Statement("SELECT v FROM t WHERE id = 1"), Ct))[0, 0]);

        Assert.Equal(0L, pool.GetStatistics().ReadsOnCaller);
    }
}
