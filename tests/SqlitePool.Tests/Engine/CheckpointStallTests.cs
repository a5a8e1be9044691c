namespace SqlitePool.Tests.Engine;

/// <summary>The checkpoint governor never holds the writer longer than one checkpoint pass: it does not wait for
/// readers in SQLite's busy handler, and a read in flight counts as a reader.</summary>
public sealed class CheckpointStallTests : PoolTestBase
{
    // Long enough that a checkpoint waiting for readers in the busy handler would outlive the test.
    private static readonly TimeSpan PatientBusyTimeout = TimeSpan.FromMinutes(10);
    private static readonly TimeSpan Liveness = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Over_the_limit_with_an_old_reader_the_checkpoint_makes_one_pass_and_returns_busy()
    {
        var pool = await OpenAsync(o => (o.BusyTimeout, o.WalLimitBytes, o.MaxReaderSnapshotAge) = (PatientBusyTimeout, 1 << 16, TimeSpan.FromHours(1)));
        await pool.ExecuteAsync(new Statement("CREATE TABLE t(v BLOB)"), Ct);
        await using var reader = await pool.AcquireAsync(LeaseKind.Reader, Ct);
        await reader.QueryAsync(new Statement("SELECT count(*) FROM t"), Ct); // holds its snapshot from here
        for (var i = 0; i < 40; i++)
        {
            await pool.ExecuteAsync(new Statement("INSERT INTO t VALUES (randomblob(4096))"), Ct);
        }

        var outcome = await pool.GovernWalAsync().WaitAsync(Liveness, Ct);

        Assert.StartsWith("TRUNCATE busy=1", outcome, StringComparison.Ordinal);
        Assert.Equal(41L, (await pool.ExecuteAsync(new Statement("INSERT INTO t VALUES (1)"), Ct)).LastInsertRowId);
    }

    [Fact]
    public async Task A_query_in_flight_counts_as_a_reader_so_a_quiet_look_checkpoints_passively()
    {
        var pool = await OpenAsync(o => (o.BusyTimeout, o.MaxReaders) = (PatientBusyTimeout, 1));
        await pool.ExecuteAsync(new Statement("CREATE TABLE t(v)"), Ct);
        using var entered = new SemaphoreSlim(0);
        using var leave = new SemaphoreSlim(0);
        using (var lease = pool.AcquireLocal(LeaseKind.Reader))
        {
            lease.Connection.CreateFunction("hold", () =>
            {
                entered.Release();
                return leave.Wait(Liveness) ? 1L : 0L;
            });
        }

        await pool.ExecuteAsync(new Statement("INSERT INTO t VALUES (1)"), Ct);
        var query = pool.QueryAsync(new Statement("SELECT count(*) + hold() FROM t"), Ct);
        Assert.True(await entered.WaitAsync(Liveness, Ct));
        await pool.ExecuteAsync(new Statement("INSERT INTO t VALUES (2)"), Ct);

        await pool.GovernWalAsync().WaitAsync(Liveness, Ct); // the first look only notes the writes
        var outcome = await pool.GovernWalAsync().WaitAsync(Liveness, Ct);
        leave.Release();

        Assert.StartsWith("PASSIVE", outcome, StringComparison.Ordinal);
        Assert.Equal(2L, (await query)[0, 0]);
    }
}
