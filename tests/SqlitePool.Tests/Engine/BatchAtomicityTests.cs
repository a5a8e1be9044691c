namespace SqlitePool.Tests.Engine;

/// <summary>A batch, and a write of several statements in one text, are all or nothing: transaction control inside
/// them is refused by name before anything of them is kept.</summary>
public sealed class BatchAtomicityTests : PoolTestBase
{
    public static TheoryData<string> TransactionControl => ["COMMIT", "END", "ROLLBACK", "RELEASE sp", "BEGIN", "SAVEPOINT sp", "ROLLBACK TO sp", "END TRANSACTION", "  /* note */ commit"];

    [Theory]
    [MemberData(nameof(TransactionControl))]
    public async Task Transaction_control_between_batch_statements_is_refused_and_nothing_is_written(string control)
    {
        var pool = await OpenAsync();
        await pool.ExecuteAsync(new Statement("CREATE TABLE t(v)"), Ct);

        var error = await Assert.ThrowsAsync<StatementNotAllowedException>(() => pool.ExecuteBatchAsync(
            [new Statement("INSERT INTO t VALUES (1)"), new Statement(control), new Statement("INSERT INTO nosuch VALUES (2)")], Ct));

        Assert.Equal(control, error.Sql);
        Assert.Equal(1, error.StatementIndex);
        Assert.Equal(0L, await CountAsync(pool));
        Assert.Equal(1L, (await pool.ExecuteAsync(new Statement("INSERT INTO t VALUES (3)"), Ct)).Changes);
    }

    [Theory]
    [MemberData(nameof(TransactionControl))]
    public async Task Transaction_control_inside_one_batch_text_is_refused_and_nothing_is_written(string control)
    {
        var pool = await OpenAsync();
        await pool.ExecuteAsync(new Statement("CREATE TABLE t(v)"), Ct);

        var error = await Assert.ThrowsAsync<StatementNotAllowedException>(() => pool.ExecuteBatchAsync(
            [new Statement($"INSERT INTO t VALUES (1); {control}; INSERT INTO nosuch VALUES (2)")], Ct));

        Assert.Contains(control.Trim().Split(' ')[^1], error.Message, StringComparison.OrdinalIgnoreCase);
        Assert.Equal(0, error.StatementIndex);
        Assert.Equal(0L, await CountAsync(pool));
    }

    [Theory]
    [MemberData(nameof(TransactionControl))]
    public async Task Transaction_control_inside_a_write_of_several_statements_is_refused_and_nothing_is_written(string control)
    {
        var pool = await OpenAsync();
        await pool.ExecuteAsync(new Statement("CREATE TABLE t(v)"), Ct);

        await Assert.ThrowsAsync<StatementNotAllowedException>(() => pool.ExecuteAsync(
            new Statement($"INSERT INTO t VALUES (1); {control}; INSERT INTO t VALUES (2)"), Ct));

        Assert.Equal(0L, await CountAsync(pool));
    }

    [Fact]
    public async Task A_write_of_several_statements_that_fails_keeps_nothing_alone_and_in_a_commit_group()
    {
        var pool = await OpenAsync();
        await pool.ExecuteAsync(new Statement("CREATE TABLE t(v)"), Ct);

        // Alone on an idle writer.
        var alone = await Assert.ThrowsAsync<SqlStatementException>(() => pool.ExecuteAsync(
            new Statement("INSERT INTO t VALUES (1); INSERT INTO nosuch VALUES (2)"), Ct));

        // Waiting with others, so they run as one commit group.
        var holder = await pool.AcquireAsync(LeaseKind.Writer, Ct);
        var before = pool.ExecuteAsync(new Statement("INSERT INTO t VALUES (10)"), Ct);
        var failing = pool.ExecuteAsync(new Statement("INSERT INTO t VALUES (11); INSERT INTO nosuch VALUES (12)"), Ct);
        var refused = pool.ExecuteAsync(new Statement("INSERT INTO t VALUES (13); COMMIT; INSERT INTO t VALUES (14)"), Ct);
        var whole = pool.ExecuteAsync(new Statement("INSERT INTO t VALUES (15); INSERT INTO t VALUES (16)"), Ct);
        await holder.DisposeAsync();

        await before;
        await Assert.ThrowsAsync<SqlStatementException>(() => failing);
        await Assert.ThrowsAsync<StatementNotAllowedException>(() => refused);
        Assert.Equal(2L, (await whole).Changes);
        Assert.Contains("nosuch", alone.Message, StringComparison.Ordinal);
        Assert.Equal([10L, 15L, 16L], (await pool.QueryAsync(new Statement("SELECT v FROM t ORDER BY v"), Ct)).Values.Cast<long>());
    }

    [Theory]
    [InlineData("INSERT INTO t VALUES (1);\u00a0")]
    [InlineData("INSERT INTO t VALUES (1);\v")]
    public async Task A_text_whose_tail_SQLite_rejects_writes_nothing_alone_or_in_a_group(string sql)
    {
        // SQLite's whitespace is space, tab, newline, form feed and carriage return: what follows here is a second
        // statement to SQLite, which fails to prepare after the first has run.
        var pool = await OpenAsync();
        await pool.ExecuteAsync(new Statement("CREATE TABLE t(v); CREATE TABLE u(v)"), Ct);

        await Assert.ThrowsAsync<SqlStatementException>(() => pool.ExecuteAsync(new Statement(sql), Ct));
        var holder = await pool.AcquireAsync(LeaseKind.Writer, Ct);
        var other = pool.ExecuteAsync(new Statement("INSERT INTO u VALUES (1)"), Ct);
        var grouped = pool.ExecuteAsync(new Statement(sql), Ct);
        await holder.DisposeAsync();

        await other;
        await Assert.ThrowsAsync<SqlStatementException>(() => grouped);
        await Assert.ThrowsAsync<SqlStatementException>(() => pool.ExecuteAsync(new Statement(sql), Ct));
        Assert.Equal(0L, await CountAsync(pool));
        Assert.Equal(1L, await CountAsync(pool, "u"));
    }

    [Fact]
    public async Task A_pragma_after_the_first_statement_takes_no_effect_before_that_statement_runs()
    {
        // Some pragmas act as they are prepared: preparing the second statement ahead of the first would have switched
        // the CHECK constraint off for the first, and for every later caller of the writer.
        var pool = await OpenAsync();
        await pool.ExecuteAsync(new Statement("CREATE TABLE t(v CHECK (v > 0)); CREATE TABLE k(id PRIMARY KEY); INSERT INTO k VALUES (1)"), Ct);

        var check = await Assert.ThrowsAsync<SqlStatementException>(() => pool.ExecuteAsync(new Statement("INSERT INTO t VALUES (-1); PRAGMA ignore_check_constraints = ON"), Ct));
        await Assert.ThrowsAsync<SqlStatementException>(() => pool.ExecuteAsync(new Statement("INSERT INTO k VALUES (1); PRAGMA ignore_check_constraints = ON"), Ct));
        var later = await Assert.ThrowsAsync<SqlStatementException>(() => pool.ExecuteAsync(new Statement("INSERT INTO t VALUES (-5)"), Ct));

        Assert.Equal(19, check.ErrorCode);
        Assert.Equal(19, later.ErrorCode);
        Assert.Equal(0L, await CountAsync(pool));
    }

    [Fact]
    public async Task A_refused_write_leaves_no_refusal_behind_for_the_next_callers_error()
    {
        var pool = await OpenAsync();
        await pool.ExecuteAsync(new Statement("CREATE TABLE k(id PRIMARY KEY); INSERT INTO k VALUES (1)"), Ct);

        await Assert.ThrowsAsync<StatementNotAllowedException>(() => pool.ExecuteAsync(new Statement("BEGIN; ATTACH 'other.db' AS o"), Ct));
        var duplicate = await Assert.ThrowsAsync<SqlStatementException>(() => pool.ExecuteAsync(new Statement("INSERT INTO k VALUES (1)"), Ct));

        Assert.Contains("UNIQUE", duplicate.Message, StringComparison.Ordinal);
    }
}
