using Microsoft.Data.Sqlite;
using SQLitePCL;

namespace SqlitePool.Tests.Engine;

/// <summary>A silo-local reader lease goes back in autocommit, however its holder opened a transaction.</summary>
public sealed class LocalLeaseReturnTests : PoolTestBase
{
    [Theory]
    [InlineData("BEGIN", "COMMIT")]
    [InlineData("SAVEPOINT held", "RELEASE held")]
    public async Task A_transaction_left_open_on_a_reader_is_rolled_back_also_when_its_kept_command_runs_again(string begin, string end)
    {
        var pool = await OpenAsync(o => o.MaxReaders = 1);
        await pool.ExecuteAsync(new Statement("CREATE TABLE t(v); INSERT INTO t VALUES (1)"), Ct);

        // The reader loads the schema first: loading it later would make SQLite prepare kept statements again.
        using (var warm = pool.AcquireLocal(LeaseKind.Reader))
        {
            Assert.Equal(1L, Count(warm.Connection));
        }

        // The first holder prepares and ends its transaction; the second runs the kept BEGIN command (not
        // prepared again) and leaves the transaction open.
        var committed = 1L;
        foreach (var leaveOpen in new[] { false, true })
        {
            using (var lease = pool.AcquireLocal(LeaseKind.Reader))
            {
                lease.Prepare(begin).ExecuteNonQuery();
                Assert.Equal(0, raw.sqlite3_get_autocommit(lease.Connection.Handle));
                if (!leaveOpen)
                {
                    lease.Prepare(end).ExecuteNonQuery();
                }
            }

            // Written through the writer: a read through the pool would use (and reset) the one reader first.
            await pool.ExecuteAsync(new Statement("INSERT INTO t VALUES (1)"), Ct);
            committed++;
            using var next = pool.AcquireLocal(LeaseKind.Reader);
            Assert.Equal(1, raw.sqlite3_get_autocommit(next.Connection.Handle));
            Assert.Equal(committed, Count(next.Connection));
        }

        Assert.Equal(3L, await CountAsync(pool));
        Assert.Equal(0, pool.GetStatistics().ReadersBusy);
    }

    [Fact]
    public async Task A_reader_that_never_opened_a_transaction_returns_and_serves_the_latest_commit()
    {
        var pool = await OpenAsync(o => o.MaxReaders = 1);
        await pool.ExecuteAsync(new Statement("CREATE TABLE t(v)"), Ct);

        for (var i = 1; i <= 3; i++)
        {
            await pool.ExecuteAsync(new Statement("INSERT INTO t VALUES (1)"), Ct);
            using var lease = pool.AcquireLocal(LeaseKind.Reader);
            Assert.Equal((long)i, Count(lease.Connection));
        }

        Assert.Equal(1, pool.GetStatistics().ReadersIdle);
    }

    private static long Count(SqliteConnection connection)
    {
        using var count = connection.CreateCommand();
        count.CommandText = "SELECT count(*) FROM t";
        return (long)count.ExecuteScalar()!;
    }
}
