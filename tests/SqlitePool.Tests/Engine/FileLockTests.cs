using SqlitePool.Tests.Process;

namespace SqlitePool.Tests.Engine;

/// <summary>
/// The pool keeps SQLite's POSIX locks: closing any descriptor of a file drops every lock the process holds on it,
/// so nothing of the pool may open the database, <c>-wal</c> or <c>-shm</c> files outside SQLite while they are open.
/// </summary>
public sealed class FileLockTests : PoolTestBase
{
    [Fact]
    public async Task Statistics_and_the_governor_leave_the_writers_lock_in_place_against_another_process()
    {
        var pool = await OpenAsync(o => o.WalLimitBytes = 1 << 16);
        await pool.ExecuteAsync(new Statement("CREATE TABLE t(v)"), Ct);
        await pool.ExecuteAsync(new Statement("INSERT INTO t VALUES (1)"), Ct);
        await using var writer = await pool.AcquireAsync(LeaseKind.Writer, Ct);
        await writer.ExecuteAsync(new Statement("BEGIN IMMEDIATE"), Ct);
        await writer.ExecuteAsync(new Statement("INSERT INTO t VALUES (2)"), Ct);
        Assert.Equal("busy", await ProbeAsync());

        // Everything that looks at the log while the transaction is open: statistics, twice the governor (the
        // second look is a quiet one) and the health check's statistics.
        pool.GetStatistics();
        await pool.GovernWalAsync();
        await pool.GovernWalAsync();
        pool.GetStatistics();

        Assert.Equal("busy", await ProbeAsync());
    }

    private async Task<string> ProbeAsync()
    {
        var probe = await ProcessRunner.RunAsync(ProcessRunner.LockProbeDll, [Directory.File("test.db")]);
        Assert.True(probe.ExitCode == 0, probe.Stderr);
        return probe.Stdout;
    }
}
