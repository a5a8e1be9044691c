namespace SqlitePool.Tests.Engine;

/// <summary>A cursor whose statement failed stays failed: SQLite would restart the statement from its first row
/// on the next step, which would hand the caller rows it already had.</summary>
public sealed class CursorFailureTests : PoolTestBase
{
    [Fact]
    public async Task A_read_after_a_failed_batch_fails_again_instead_of_starting_over()
    {
        var pool = await OpenAsync(o => o.MaxReaders = 1);
        await pool.ExecuteAsync(new Statement("CREATE TABLE t(x INTEGER PRIMARY KEY)"), Ct);
        await pool.ExecuteAsync(new Statement("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 300) INSERT INTO t SELECT x FROM c"), Ct);
        using (var lease = pool.AcquireLocal(LeaseKind.Reader))
        {
            lease.Connection.CreateFunction("fail_at", (long x) => x == 150 ? throw new InvalidOperationException("row 150") : x);
        }

        QueryResult? first;
        Exception failure, again;
        await using (var cursor = await pool.OpenCursorAsync(new Statement("SELECT fail_at(x) FROM t ORDER BY x"), Ct))
        {
            first = await cursor.ReadAsync(100, Ct);
            failure = await Assert.ThrowsAnyAsync<SqlStatementException>(() => cursor.ReadAsync(100, Ct));
            again = await Assert.ThrowsAnyAsync<Exception>(() => cursor.ReadAsync(100, Ct));
        }

        Assert.Equal(100, first!.RowCount);
        Assert.Contains("row 150", failure.Message, StringComparison.Ordinal);
        Assert.Contains("row 150", again.Message, StringComparison.Ordinal);
        Assert.Equal(1L, (await pool.QueryAsync(new Statement("SELECT min(x) FROM t"), Ct))[0, 0]);
    }
}
