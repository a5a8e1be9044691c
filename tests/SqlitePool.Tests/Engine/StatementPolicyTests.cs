namespace SqlitePool.Tests.Engine;

/// <summary>ATTACH, load_extension and invariant-breaking pragmas are refused unless options allow them.</summary>
public sealed class StatementPolicyTests : PoolTestBase
{
    [Theory]
    [InlineData("ATTACH 'other.db' AS other", "AllowAttach")]
    [InlineData("DETACH other", "AllowAttach")]
    [InlineData("SELECT load_extension('libevil')", "load_extension")]
    [InlineData("PRAGMA journal_mode = DELETE", "AllowPragmaChanges")]
    [InlineData("PRAGMA locking_mode = EXCLUSIVE", "AllowPragmaChanges")]
    [InlineData("PRAGMA query_only = 0", "managed by the pool")]
    [InlineData("PRAGMA temp_store_directory = '/tmp'", "outside the data root")]
    public async Task Dangerous_statements_are_refused_by_default(string sql, string hint)
    {
        var pool = await OpenAsync();

        var error = await Assert.ThrowsAsync<StatementNotAllowedException>(() => pool.ExecuteAsync(new Statement(sql), Ct));

        Assert.Equal(23, error.ErrorCode);
        Assert.Contains(hint, error.Message, StringComparison.Ordinal);
        Assert.False(File.Exists(Directory.File("other.db")));
        Assert.Equal("wal", (await pool.ExecuteAsync(new Statement("PRAGMA journal_mode"), Ct)).Rows![0, 0]);
        Assert.Equal(1L, (await pool.QueryAsync(new Statement("SELECT 1"), Ct))[0, 0]);
    }

    [Fact]
    public async Task A_reader_cannot_lift_its_query_only_guard()
    {
        var pool = await OpenAsync();
        await using var reader = await pool.AcquireAsync(LeaseKind.Reader, Ct);

        await Assert.ThrowsAsync<StatementNotAllowedException>(() => reader.QueryAsync(new Statement("PRAGMA query_only = 0"), Ct));

        Assert.Equal(1L, (await reader.QueryAsync(new Statement("PRAGMA query_only"), Ct))[0, 0]);
    }

    [Fact]
    public async Task An_allowed_attach_stays_inside_the_data_root()
    {
        var pool = await OpenAsync(o => o.AllowAttach = true);
        var inside = Directory.File("inside.db");
        var outside = Path.Combine(Path.GetTempPath(), $"outside-{Guid.NewGuid():N}.db");

        await using (var writer = await pool.AcquireAsync(LeaseKind.Writer, Ct))
        {
            await writer.ExecuteAsync(new Statement($"ATTACH '{inside}' AS inside; CREATE TABLE inside.t(v); DETACH inside"), Ct);
            await writer.ExecuteAsync(new Statement("ATTACH ':memory:' AS scratch; DETACH scratch"), Ct);
        }

        // A write of several statements runs in one transaction, which DETACH cannot end inside.
        await Assert.ThrowsAsync<StatementNotAllowedException>(() => pool.ExecuteAsync(new Statement("ATTACH ':memory:' AS scratch; DETACH scratch"), Ct));
        var escapes = new[] { $"ATTACH '{outside}' AS o", $"ATTACH 'file:{inside}?mode=rwc' AS o", "ATTACH ? AS o", $"ATTACH '{inside}.lock' AS o" };
        foreach (var sql in escapes)
        {
            var error = await Assert.ThrowsAsync<StatementNotAllowedException>(() => pool.ExecuteAsync(new Statement(sql, outside), Ct));
            Assert.Contains("outside the data root", error.Message, StringComparison.Ordinal);
        }

        Assert.True(File.Exists(inside));
        Assert.False(File.Exists(outside));
    }

    [Fact]
    public async Task AllowPragmaChanges_lets_sql_change_the_locking_mode()
    {
        var pool = await OpenAsync(o => o.AllowPragmaChanges = true);

        var result = await pool.ExecuteAsync(new Statement("PRAGMA locking_mode = NORMAL"), Ct);

        Assert.Equal("normal", result.Rows![0, 0]);
    }

    [Fact]
    public async Task Vacuum_runs_while_vacuum_into_and_sql_attaching_a_temporary_database_stay_refused()
    {
        var pool = await OpenAsync();
        await pool.ExecuteAsync(new Statement("CREATE TABLE t(v); INSERT INTO t VALUES (1), (2)"), Ct);
        await pool.ExecuteAsync(new Statement("DELETE FROM t WHERE v = 1"), Ct);

        await pool.ExecuteAsync(new Statement("VACUUM"), Ct);
        await pool.ExecuteAsync(new Statement("VACUUM main"), Ct);

        await Assert.ThrowsAsync<StatementNotAllowedException>(() => pool.ExecuteAsync(new Statement($"VACUUM INTO '{Directory.File("copy.db")}'"), Ct));
        await Assert.ThrowsAsync<StatementNotAllowedException>(() => pool.ExecuteAsync(new Statement("ATTACH '' AS scratch"), Ct));
        await Assert.ThrowsAsync<StatementNotAllowedException>(() => pool.ExecuteAsync(new Statement("ATTACH ? AS scratch", ""), Ct));
        Assert.Equal(2L, (await pool.QueryAsync(new Statement("SELECT v FROM t"), Ct))[0, 0]);
        Assert.False(File.Exists(Directory.File("copy.db")));
    }
}
