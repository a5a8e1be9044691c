using SqlitePool.Engine;

namespace SqlitePool.Tests.Engine;

/// <summary>SQL cannot change the settings the pool owns on its shared connections (unless
/// <c>AllowPragmaChanges</c> says so), and reading a pragma is a read.</summary>
public sealed class OwnedSettingsTests : PoolTestBase
{
    public static TheoryData<string, string, string> OwnedSettings => new()
    {
        { "PRAGMA synchronous = OFF", "PRAGMA synchronous", "Synchronous" },
        { "PRAGMA main.synchronous = 0", "PRAGMA synchronous", "Synchronous" },
        { "PRAGMA foreign_keys = OFF", "PRAGMA foreign_keys", "ForeignKeys" },
        { "PRAGMA busy_timeout = 1", "PRAGMA busy_timeout", "BusyTimeout" },
        { "PRAGMA journal_size_limit = 1", "PRAGMA journal_size_limit", "WalLimitBytes" },
        { "PRAGMA wal_autocheckpoint = 0", "PRAGMA wal_autocheckpoint", "checkpoint" },
    };

    [Theory]
    [MemberData(nameof(OwnedSettings))]
    public async Task Changing_a_setting_the_pool_owns_is_refused_naming_the_option_and_the_setting_stays(string change, string read, string option)
    {
        var pool = await OpenAsync();
        var before = await ReadOnWriterAsync(pool, read);

        var refused = await Assert.ThrowsAsync<StatementNotAllowedException>(() => pool.ExecuteAsync(new Statement(change), Ct));
        await using var writer = await pool.AcquireAsync(LeaseKind.Writer, Ct);
        var onLease = await Assert.ThrowsAsync<StatementNotAllowedException>(() => writer.ExecuteAsync(new Statement(change), Ct));

        Assert.Contains(option, refused.Reason, StringComparison.Ordinal);
        Assert.Contains("AllowPragmaChanges", onLease.Reason, StringComparison.Ordinal);
        Assert.Equal(before, (await writer.QueryAsync(new Statement(read), Ct))[0, 0]);
    }

    [Fact]
    public async Task AllowPragmaChanges_lets_SQL_change_them()
    {
        var pool = await OpenAsync(o => o.AllowPragmaChanges = true);
        await pool.ExecuteAsync(new Statement("PRAGMA synchronous = NORMAL"), Ct);

        Assert.Equal(1L, await ReadOnWriterAsync(pool, "PRAGMA synchronous"));
    }

    [Theory]
    [InlineData("PRAGMA journal_mode", "wal")]
    [InlineData("PRAGMA synchronous", 1L)]
    [InlineData("PRAGMA foreign_keys", 1L)]
    [InlineData("PRAGMA main.journal_mode", "wal")]
    public async Task Reading_a_pragma_is_a_read_and_shows_the_pools_settings(string pragma, object expected)
    {
        var pool = await OpenAsync(o => o.Synchronous = "NORMAL");

        Assert.Equal(expected, (await pool.QueryAsync(new Statement(pragma), Ct))[0, 0]);
    }

    [Theory]
    [InlineData("PRAGMA wal_checkpoint")]
    [InlineData("PRAGMA journal_mode = DELETE")]
    public async Task Pragmas_that_act_stay_off_the_read_path(string pragma)
    {
        var pool = await OpenAsync();

        await Assert.ThrowsAnyAsync<SqlStatementException>(() => pool.QueryAsync(new Statement(pragma), Ct));
        Assert.Equal("wal", (await pool.ExecuteAsync(new Statement("PRAGMA journal_mode"), Ct)).Rows![0, 0]);
    }

    private static async Task<object?> ReadOnWriterAsync(DatabasePool pool, string pragma)
    {
        await using var writer = await pool.AcquireAsync(LeaseKind.Writer, Ct);
        return (await writer.QueryAsync(new Statement(pragma), Ct))[0, 0];
    }
}
