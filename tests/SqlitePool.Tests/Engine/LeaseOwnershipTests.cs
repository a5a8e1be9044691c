namespace SqlitePool.Tests.Engine;

/// <summary>A statement runs on a leased connection only while its lease holds it: the check is made on the
/// connection's own thread as the statement starts, so one sent as the lease ends never runs after the lease's
/// rollback or inside the next holder's lease.</summary>
public sealed class LeaseOwnershipTests : PoolTestBase
{
    [Fact]
    public async Task A_statement_racing_its_leases_release_runs_inside_the_lease_or_not_at_all()
    {
        var pool = await OpenAsync();
        await pool.ExecuteAsync(new Statement("CREATE TABLE t(v)"), Ct);
        var insert = new Statement("INSERT INTO t VALUES (1)");
        var (ran, refused) = (0, 0);

        for (var i = 0; i < 2000; i++)
        {
            // Every lease's transaction is rolled back when it ends: any row that stays was written outside a lease.
            var lease = await pool.AcquireAsync(LeaseKind.Writer, Ct);
            await lease.ExecuteAsync(new Statement("BEGIN IMMEDIATE"), Ct);
            using var start = new Barrier(2);
            var statement = Task.Run(() =>
            {
                start.SignalAndWait(Ct);
                return lease.ExecuteAsync(insert, Ct);
            }, Ct);
            var release = Task.Run(async () =>
            {
                start.SignalAndWait(Ct);
                await lease.DisposeAsync();
            }, Ct);

            await release;
            try
            {
                await statement;
                ran++;
            }
            catch (LeaseNotFoundException)
            {
                refused++;
            }

            // The next holder's transaction is open while a late statement could still arrive.
            await using var next = await pool.AcquireAsync(LeaseKind.Writer, Ct);
            await next.ExecuteAsync(new Statement("BEGIN IMMEDIATE"), Ct);
        }

        Assert.Equal(0L, await CountAsync(pool));
        Assert.True(ran + refused == 2000, $"{ran} ran, {refused} refused");
    }
}
