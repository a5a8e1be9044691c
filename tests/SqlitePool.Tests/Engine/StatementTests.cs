namespace SqlitePool.Tests.Engine;

public sealed class StatementTests : PoolTestBase
{
    [Fact]
    public async Task Values_keep_their_storage_classes()
    {
        var pool = await OpenAsync();
        await pool.ExecuteAsync(new Statement("CREATE TABLE t(id INTEGER PRIMARY KEY, v)"), Ct);
        object?[] values = [1L, 1.0, "a\0b", Array.Empty<byte>(), "", null, new byte[] { 0, 255 }, long.MinValue, "héllo 😀"];
        foreach (var value in values)
        {
            await pool.ExecuteAsync(new Statement("INSERT INTO t(v) VALUES (?)", value), Ct);
        }

        var rows = await pool.QueryAsync(new Statement("SELECT v, typeof(v) FROM t ORDER BY id"), Ct);

        Assert.Equal(values.Length, rows.RowCount);
        for (var i = 0; i < values.Length; i++)
        {
            Assert.Equal(values[i], rows[i, 0]);
        }

        Assert.Equal(["integer", "real", "text", "blob", "text", "null", "blob", "integer", "text"], Enumerable.Range(0, rows.RowCount).Select(r => (string)rows[r, 1]!));
    }

    [Fact]
    public async Task Parameters_bind_by_position_and_by_name_with_any_prefix()
    {
        var pool = await OpenAsync();

        var positional = await pool.QueryAsync(new Statement("SELECT ?, ?, ?3", 1, "two", 3.5), Ct);
        var named = await pool.QueryAsync(new Statement("SELECT $a, :b, @c", new Dictionary<string, object?> { ["a"] = 1, ["$b"] = "b", ["@c"] = null }), Ct);

        Assert.Equal([1L, "two", 3.5], positional.GetRow(0));
        Assert.Equal([1L, "b", null], named.GetRow(0));
    }

    [Fact]
    public async Task Missing_or_surplus_parameters_are_range_errors()
    {
        var pool = await OpenAsync();

        var missing = await Assert.ThrowsAsync<SqlStatementException>(() => pool.QueryAsync(new Statement("SELECT ?, ?", 1), Ct));
        var surplus = await Assert.ThrowsAsync<SqlStatementException>(() => pool.QueryAsync(new Statement("SELECT ?", 1, 2), Ct));
        var missingNamed = await Assert.ThrowsAsync<SqlStatementException>(() => pool.QueryAsync(new Statement("SELECT $x"), Ct));

        Assert.All(new[] { missing, surplus, missingNamed }, e => Assert.Equal(25, e.ErrorCode));
        Assert.Contains("$x", missingNamed.Message, StringComparison.Ordinal);
        Assert.Equal(1L, (await pool.QueryAsync(new Statement("SELECT 1"), Ct))[0, 0]);
    }

    [Theory]
    [InlineData("INSERT INTO t(v) VALUES (1)")]
    [InlineData("CREATE TABLE u(a)")]
    [InlineData("BEGIN")]
    [InlineData("SAVEPOINT s")]
    [InlineData("/* comment */ DELETE FROM t")]
    [InlineData("PRAGMA user_version = 7")]
    [InlineData("SELECT 1; INSERT INTO t(v) VALUES (2)")]
    public async Task The_read_path_refuses_writes_and_transaction_control(string sql)
    {
        var pool = await OpenAsync();
        await pool.ExecuteAsync(new Statement("CREATE TABLE t(v)"), Ct);

        var error = await Assert.ThrowsAsync<WriteOnReadPathException>(() => pool.QueryAsync(new Statement(sql), Ct));

        Assert.Equal(8, error.ErrorCode);
        Assert.Contains("ExecuteAsync", error.Message, StringComparison.Ordinal);
        Assert.False(File.Exists(Directory.File("other.db")));
        Assert.Equal(0L, await CountAsync(pool));
        Assert.Equal(0L, (await pool.QueryAsync(new Statement("PRAGMA user_version"), Ct))[0, 0]);
    }

    [Fact]
    public async Task Sql_errors_keep_primary_and_extended_codes()
    {
        var pool = await OpenAsync();
        await pool.ExecuteAsync(new Statement("CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT UNIQUE)"), Ct);
        await pool.ExecuteAsync(new Statement("INSERT INTO t(name) VALUES ('a')"), Ct);

        var unique = await Assert.ThrowsAsync<SqlStatementException>(() => pool.ExecuteAsync(new Statement("INSERT INTO t(name) VALUES ('a')"), Ct));
        var syntax = await Assert.ThrowsAsync<SqlStatementException>(() => pool.ExecuteAsync(new Statement("INSERT INTO"), Ct));

        Assert.Equal((19, 2067), (unique.ErrorCode, unique.ExtendedErrorCode));
        Assert.Equal(1, syntax.ErrorCode);
        Assert.Equal(1L, await CountAsync(pool));
    }

    [Theory]
    [InlineData("SELECT 1\0; DROP TABLE t")]
    [InlineData("\0")]
    [InlineData("SELECT '\0'")]
    public async Task Sql_with_a_nul_character_is_refused_instead_of_cut_short(string sql)
    {
        var pool = await OpenAsync();
        await pool.ExecuteAsync(new Statement("CREATE TABLE t(v)"), Ct);

        var error = await Assert.ThrowsAsync<SqlStatementException>(() => pool.ExecuteAsync(new Statement(sql), Ct));
        await Assert.ThrowsAsync<SqlStatementException>(() => pool.QueryAsync(new Statement(sql), Ct));

        Assert.Contains("NUL", error.Message, StringComparison.Ordinal);
        Assert.Equal(0L, await CountAsync(pool));
    }

    [Fact]
    public async Task Execute_reports_changes_last_rowid_and_returned_rows()
    {
        var pool = await OpenAsync();
        var create = await pool.ExecuteAsync(new Statement("CREATE TABLE t(id INTEGER PRIMARY KEY, v)"), Ct);
        var insert = await pool.ExecuteAsync(new Statement("INSERT INTO t(v) VALUES (1), (2), (3)"), Ct);
        var returning = await pool.ExecuteAsync(new Statement("UPDATE t SET v = v * 10 WHERE id >= 2 RETURNING v"), Ct);

        Assert.Equal(0, create.Changes);
        Assert.Equal((3L, 3L), (insert.Changes, insert.LastInsertRowId));
        Assert.Equal(2, returning.Changes);
        Assert.Equal([20L, 30L], returning.Rows!.Values);
    }

    [Fact]
    public async Task Batch_is_all_or_nothing_and_names_the_failing_statement()
    {
        var pool = await OpenAsync();
        await pool.ExecuteAsync(new Statement("CREATE TABLE t(id INTEGER PRIMARY KEY)"), Ct);

        var error = await Assert.ThrowsAsync<SqlStatementException>(() => pool.ExecuteBatchAsync(
            [new Statement("INSERT INTO t VALUES (1)"), new Statement("INSERT INTO t VALUES (2)"), new Statement("INSERT INTO t VALUES (1)")], Ct));
        var results = await pool.ExecuteBatchAsync([new Statement("INSERT INTO t VALUES (?)", 5), new Statement("INSERT INTO t VALUES (6)")], Ct);

        Assert.Equal((19, 2), (error.ErrorCode, error.StatementIndex));
        Assert.Equal([5L, 6L], results.Select(r => r.LastInsertRowId));
        Assert.Equal(2L, await CountAsync(pool));
    }

    [Fact]
    public async Task An_execute_that_leaves_a_transaction_open_is_rolled_back()
    {
        var pool = await OpenAsync();
        await pool.ExecuteAsync(new Statement("CREATE TABLE t(v)"), Ct);

        var alone = await Assert.ThrowsAsync<SqlStatementException>(() => pool.ExecuteAsync(new Statement("BEGIN"), Ct));
        var withWrite = await Assert.ThrowsAsync<StatementNotAllowedException>(() => pool.ExecuteAsync(new Statement("BEGIN; INSERT INTO t VALUES (1)"), Ct));
        await pool.ExecuteAsync(new Statement("INSERT INTO t VALUES (2)"), Ct);

        Assert.Contains("TransactionAsync", alone.Message, StringComparison.Ordinal);
        Assert.Contains("TransactionAsync", withWrite.Message, StringComparison.Ordinal);
        Assert.Equal(1L, await CountAsync(pool));
    }

    [Theory]
    [InlineData(null, 2L)] // FULL, the default: survives process crash and power loss
    [InlineData("NORMAL", 1L)]
    [InlineData("EXTRA", 3L)]
    public async Task The_writer_runs_at_the_configured_synchronous_level(string? level, long expected)
    {
        var pool = await OpenAsync(o => o.Synchronous = level ?? o.Synchronous);

        var synchronous = (await pool.ExecuteAsync(new Statement("PRAGMA synchronous"), Ct)).Rows![0, 0];

        Assert.Equal(expected, synchronous);
    }

    [Fact]
    public async Task Sqlite_is_at_least_3_51_3()
    {
        var pool = await OpenAsync();

        Assert.True(Version.Parse(pool.SqliteVersion) >= new Version(3, 51, 3), pool.SqliteVersion);
        Assert.Equal("wal", (await pool.ExecuteAsync(new Statement("PRAGMA journal_mode"), Ct)).Rows![0, 0]);
        Assert.Equal(5, (await pool.QueryAsync(new Statement("PRAGMA table_info(sqlite_master)"), Ct)).RowCount);
    }
}
