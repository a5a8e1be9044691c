using SqlitePool.Client;

namespace SqlitePool.Tests.Cluster;

/// <summary>Concurrent reads, and concurrent writes, of one database from one process share grain calls, each
/// statement keeping its own outcome.</summary>
[Collection(ClusterCollection.Name)]
public sealed class SharedCallTests(ClusterFixture cluster)
{
    private const int Rows = 50;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Many_concurrent_reads_share_calls_and_each_gets_its_own_row_or_error()
    {
        var db = await SeededAsync();
        var before = await db.GetStatisticsAsync();

        // Handles are cheap and separate, yet their reads share calls: the sharing is per database.
        var reads = Enumerable.Range(0, 600).Select(i => ReadAsync(cluster.Client.GetDatabase(db.Id), i)).ToArray();
        var outcomes = await Task.WhenAll(reads);

        for (var i = 0; i < outcomes.Length; i++)
        {
            Assert.Equal(Expected(i), outcomes[i]);
        }

        var after = await db.GetStatisticsAsync();
        Assert.Equal(600, after.Reads - before.Reads);
        Assert.InRange(after.SharedReadCalls - before.SharedReadCalls, 1, 600 / 2);
    }

    [Fact]
    public async Task A_failing_call_fails_the_reads_it_carried_and_later_reads_work()
    {
        // The database is closed on a node that does not exist: every read fails with the same typed error.
        var missing = cluster.Client.GetDatabase("nowhere", "coalescing/absent.db");
        var failures = await Task.WhenAll(Enumerable.Range(0, 40).Select(async _ =>
            await Record.ExceptionAsync(() => missing.QueryAsync("SELECT 1"))));
        Assert.All(failures, e => Assert.IsType<DatabaseNodeUnavailableException>(e));

        var db = await SeededAsync();
        var rows = await Task.WhenAll(Enumerable.Range(1, 40).Select(i => db.QuerySingleAsync<long>("SELECT id FROM t WHERE id = ?", i % Rows + 1)));
        Assert.Equal(Enumerable.Range(1, 40).Select(i => (long)(i % Rows + 1)), rows);
    }

    [Fact]
    public async Task A_read_issued_after_a_write_returns_sees_that_write()
    {
        var db = await SeededAsync();
        var busy = Enumerable.Range(0, 200).Select(i => db.QueryAsync("SELECT name FROM t WHERE id = ?", i % Rows + 1)).ToArray();

        await db.ExecuteAsync("UPDATE t SET name = 'changed' WHERE id = 1");
        var seen = await db.QuerySingleAsync<string>("SELECT name FROM t WHERE id = 1");

        Assert.Equal("changed", seen);
        await Task.WhenAll(busy);
    }

    [Fact]
    public async Task Many_concurrent_writes_share_calls_and_a_failing_write_is_undone_alone()
    {
        var db = await SeededAsync();
        var before = await db.GetStatisticsAsync();

        // Every third write collides with a seeded row's key and fails; the others each insert a row.
        var writes = Enumerable.Range(0, 600).Select(async i =>
        {
            try
            {
                var id = i % 3 == 0 ? (i % Rows) + 1 : 1000 + i;
                return (await cluster.Client.GetDatabase(db.Id).ExecuteAsync("INSERT INTO t(id, name) VALUES (?, ?)", id, $"new {i}")).LastInsertRowId;
            }
            catch (SqlStatementException)
            {
                return -1;
            }
        }).ToArray();
        var outcomes = await Task.WhenAll(writes);

        Assert.Equal(Enumerable.Range(0, 600).Select(i => i % 3 == 0 ? -1L : 1000 + i), outcomes);
        Assert.Equal(Rows + 400, await db.QuerySingleAsync<long>("SELECT count(*) FROM t"));
        Assert.Equal(0, await db.QuerySingleAsync<long>("SELECT count(*) FROM t WHERE name LIKE 'new %' AND id <= ?", Rows));
        var after = await db.GetStatisticsAsync();
        Assert.Equal(600, after.Writes - before.Writes);
        Assert.InRange(after.SharedWriteCalls - before.SharedWriteCalls, 1, 600 / 2);
    }

    [Fact]
    public async Task ExecuteEachAsync_reports_each_outcome_in_order()
    {
        var db = await SeededAsync();

        var outcomes = await db.ExecuteEachAsync(["INSERT INTO t(id, name) VALUES (100, 'a')", "INSERT INTO t(id, name) VALUES (1, 'dup')", "INSERT INTO missing VALUES (1)"]);

        Assert.Equal(1, outcomes[0].GetResult().Changes);
        Assert.IsType<SqlStatementException>(outcomes[1].Error);
        Assert.Throws<SqlStatementException>(() => outcomes[2].GetResult());
        Assert.Equal(Rows + 1, await db.QuerySingleAsync<long>("SELECT count(*) FROM t"));
    }

    [Fact]
    public async Task QueryEachAsync_reports_each_outcome_in_order()
    {
        var db = await SeededAsync();

        var outcomes = await db.QueryEachAsync([new Statement("SELECT name FROM t WHERE id = ?", 3), "SELECT * FROM missing", "DELETE FROM t"]);

        Assert.Equal("row 3", outcomes[0].GetResult()[0, 0]);
        Assert.Contains("missing", Assert.IsType<SqlStatementException>(outcomes[1].Error).Message);
        Assert.IsType<WriteOnReadPathException>(outcomes[2].Error);
        Assert.Equal(Rows, await db.QuerySingleAsync<long>("SELECT count(*) FROM t"));
    }

    private static string Expected(int i) => (i % 3) switch
    {
        0 => $"row {(i % Rows) + 1}",
        1 => nameof(SqlStatementException),
        _ => nameof(WriteOnReadPathException),
    };

    // Every third read fails in SQLite, every third is refused as a write; the rest read a row.
    private static async Task<string> ReadAsync(SqliteDatabase db, int i)
    {
        try
        {
            var sql = (i % 3) switch
            {
                0 => "SELECT name FROM t WHERE id = ?",
                1 => "SELECT name FROM no_such_table WHERE id = ?",
                _ => "UPDATE t SET name = 'x' WHERE id = ?",
            };
            return (string)(await db.QueryAsync(sql, (i % Rows) + 1))[0, 0]!;
        }
        catch (SqlitePoolException ex)
        {
            return ex.GetType().Name;
        }
    }

    private async Task<SqliteDatabase> SeededAsync()
    {
        var db = cluster.NewDatabase("coalescing");
        await db.ExecuteAsync("CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT NOT NULL)");
        await db.ExecuteBatchAsync(Enumerable.Range(1, Rows).Select(i => new Statement("INSERT INTO t(id, name) VALUES (?, ?)", i, $"row {i}")));
        return db;
    }
}
