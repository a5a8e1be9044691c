using SqlitePool.Engine;

namespace SqlitePool.Tests.Engine;

/// <summary>
/// A result's columns are those of the statement as it ran: SQLite prepares a kept statement again, inside its first
/// step, when the schema changed since, and its column count can change with it.
/// </summary>
public sealed class SchemaChangeTests : PoolTestBase
{
    private const string Create = "CREATE TABLE t(a INTEGER, b TEXT, c REAL); CREATE VIEW v AS SELECT a, b FROM t; " +
        "INSERT INTO t VALUES (1, 'one', 1.5), (2, 'two', 2.5), (3, 'three', 3.5), (4, 'four', 4.5)";

    public static TheoryData<string, string> Changes => new()
    {
        { "add column", "ALTER TABLE t ADD COLUMN d TEXT DEFAULT 'new'" },
        { "drop column", "ALTER TABLE t DROP COLUMN c" },
        { "rename column", "ALTER TABLE t RENAME COLUMN b TO bee" },
        { "recreated table", "DROP VIEW v; DROP TABLE t; CREATE TABLE t(x, y); INSERT INTO t VALUES ('x1', 'y1'), ('x2', 'y2'); CREATE VIEW v AS SELECT x FROM t" },
        { "redefined view", "DROP VIEW v; CREATE VIEW v AS SELECT a, b, c, a * 10 AS ten FROM t" },
    };

    [Theory]
    [MemberData(nameof(Changes))]
    public async Task A_kept_query_on_a_reader_returns_the_new_shape(string change, string sql)
    {
        _ = change;
        var pool = await OpenAsync(o => o.MaxReaders = 1);
        await pool.ExecuteAsync(new Statement(Create), Ct);
        string[] onPool = ["SELECT * FROM t", "SELECT * FROM v"];
        string[] onLease = ["SELECT * FROM t WHERE 1", "SELECT * FROM v WHERE 1"];
        foreach (var query in onPool.Concat(onLease))
        {
            await pool.QueryAsync(new Statement(query), Ct);
        }

        await pool.ExecuteAsync(new Statement(sql), Ct);
        var expected = new Dictionary<string, QueryResult>();
        foreach (var query in onPool.Concat(onLease))
        {
            expected[query] = await FreshAsync(pool, query);
        }

        foreach (var query in onPool)
        {
            AssertSame(expected[query], await pool.QueryAsync(new Statement(query), Ct));
        }

        // A reader lease begins after the change; its statements were kept from before it.
        await using var lease = await pool.AcquireAsync(LeaseKind.Reader, Ct);
        foreach (var query in onLease)
        {
            AssertSame(expected[query], await lease.QueryAsync(new Statement(query), Ct));
        }
    }

    [Theory]
    [MemberData(nameof(Changes))]
    public async Task A_kept_query_on_a_writer_lease_returns_the_new_shape_after_its_own_change(string change, string sql)
    {
        _ = change;
        var pool = await OpenAsync();
        await pool.ExecuteAsync(new Statement(Create), Ct);
        await using var writer = await pool.AcquireAsync(LeaseKind.Writer, Ct);
        await writer.QueryAsync(new Statement("SELECT * FROM t"), Ct);

        await writer.ExecuteAsync(new Statement(sql), Ct);
        var after = await writer.QueryAsync(new Statement("SELECT * FROM t"), Ct);
        var fresh = await writer.QueryAsync(new Statement("SELECT * FROM t -- prepared anew"), Ct);

        AssertSame(fresh, after);
    }

    [Fact]
    public async Task A_kept_RETURNING_statement_returns_the_new_shape()
    {
        var pool = await OpenAsync();
        await pool.ExecuteAsync(new Statement(Create), Ct);
        var insert = new Statement("INSERT INTO t(a) VALUES (?) RETURNING *", 10);
        Assert.Equal(3, (await pool.ExecuteAsync(insert, Ct)).Rows!.Columns.Length);

        await pool.ExecuteAsync(new Statement("ALTER TABLE t ADD COLUMN d TEXT DEFAULT 'new'"), Ct);
        var rows = (await pool.ExecuteAsync(insert, Ct)).Rows!;

        Assert.Equal(["a", "b", "c", "d"], rows.Columns);
        Assert.Equal(1, rows.RowCount);
        Assert.Equal([10L, null, null, "new"], Enumerable.Range(0, 4).Select(i => rows[0, i]));
    }

    [Theory]
    [MemberData(nameof(Changes))]
    public async Task A_stream_opened_before_a_change_reads_the_shape_it_runs_with(string change, string sql)
    {
        _ = change;
        var pool = await OpenAsync(o => o.MaxReaders = 1);
        await pool.ExecuteAsync(new Statement(Create), Ct);
        QueryResult? batch;
        string[] columns;
        await using (var cursor = await pool.OpenCursorAsync(new Statement("SELECT * FROM t"), Ct))
        {
            // Prepared now, stepped first after the change commits.
            await pool.ExecuteAsync(new Statement(sql), Ct);
            batch = await cursor.ReadAsync(100, Ct);
            columns = cursor.Columns;
        }

        AssertSame(await FreshAsync(pool, "SELECT * FROM t"), batch!);
        Assert.Equal(batch!.Columns, columns);
    }

    private static Task<QueryResult> FreshAsync(DatabasePool pool, string sql) =>
        pool.QueryAsync(new Statement(sql + " -- prepared anew " + Guid.NewGuid().ToString("N")), Ct);

    private static void AssertSame(QueryResult expected, QueryResult actual)
    {
        Assert.Equal(expected.Columns, actual.Columns);
        Assert.Equal(expected.RowCount, actual.RowCount);
        Assert.Equal(expected.Values, actual.Values);
    }
}
