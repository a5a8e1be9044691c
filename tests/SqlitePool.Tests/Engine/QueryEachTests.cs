using SqlitePool.Engine;

namespace SqlitePool.Tests.Engine;

/// <summary>Several independent reads (or writes) handed over in one call.</summary>
public sealed class QueryEachTests : PoolTestBase
{
    [Fact]
    public async Task Reads_run_in_order_and_a_failing_read_fails_alone()
    {
        var pool = await OpenAsync();
        await pool.ExecuteBatchAsync([new("CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT)"), new("INSERT INTO t(name) VALUES ('a'), ('b')")], Ct);
        var before = pool.GetStatistics();

        var outcomes = await pool.QueryEachAsync(
        [
            new("SELECT name FROM t WHERE id = ?", 2),
            new("SELECT nothing FROM missing"),
            new("INSERT INTO t(name) VALUES ('c')"),
            new("SELECT count(*) FROM t"),
        ]);

        Assert.Equal("b", outcomes[0].GetResult()[0, 0]);
        Assert.IsType<SqlStatementException>(outcomes[1].Error);
        Assert.IsType<WriteOnReadPathException>(outcomes[2].Error);
        Assert.Equal(2L, outcomes[3].GetResult()[0, 0]);
        Assert.Throws<SqlStatementException>(() => outcomes[1].GetResult());
        var after = pool.GetStatistics();
        Assert.Equal((4L, 1L), (after.Reads - before.Reads, after.SharedReadCalls - before.SharedReadCalls));
        Assert.Equal(0, after.ReadersBusy);
    }

    [Fact]
    public async Task Each_read_sees_the_latest_commit_and_the_reader_goes_back()
    {
        var pool = await OpenAsync(o => o.MaxReaders = 1);
        await pool.ExecuteAsync(new("CREATE TABLE t(id INTEGER PRIMARY KEY)"), Ct);
        await pool.ExecuteAsync(new("INSERT INTO t DEFAULT VALUES"), Ct);

        var first = await pool.QueryEachAsync([new("SELECT count(*) FROM t"), new("SELECT count(*) FROM t")]);
        await pool.ExecuteAsync(new("INSERT INTO t DEFAULT VALUES"), Ct);
        var second = await pool.QueryEachAsync([new("SELECT count(*) FROM t")]);
        // The one reader is free again: a reader lease gets it at once.
        await using var lease = await pool.AcquireAsync(LeaseKind.Reader, LeaseHolder.Unknown, Ct);

        Assert.Equal([1L, 1L], first.Select(o => o.GetResult()[0, 0]));
        Assert.Equal(2L, second[0].GetResult()[0, 0]);
        Assert.Empty(await pool.QueryEachAsync([]));
    }

    [Fact]
    public async Task No_writes_in_one_call_leave_the_writer_free()
    {
        var pool = await OpenAsync();

        Assert.Empty(await pool.ExecuteEachAsync([]));
        var result = await pool.ExecuteAsync(new("CREATE TABLE t(id INTEGER PRIMARY KEY)"), Ct);

        Assert.Equal(0, result.Changes);
        Assert.Equal((0L, false), (pool.GetStatistics().SharedWriteCalls, pool.GetStatistics().WriterBusy));
    }

    [Fact]
    public async Task A_read_past_the_statement_timeout_fails_alone_with_the_timeout_error()
    {
        var pool = await OpenAsync(o => o.StatementTimeout = TimeSpan.FromMilliseconds(200));
        const string Endless = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT count(*) FROM n";

        var outcomes = await pool.QueryEachAsync([new(Endless), new("SELECT 42")]);

        Assert.IsType<DatabaseTimeoutException>(outcomes[0].Error);
        Assert.Equal(42L, outcomes[1].GetResult()[0, 0]);
    }
}
