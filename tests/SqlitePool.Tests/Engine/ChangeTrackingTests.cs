using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using SqlitePool.Diagnostics;
using SqlitePool.Engine;
using SqlitePool.Hosting;
using SqlitePool.Tests.Support;

namespace SqlitePool.Tests.Engine;

/// <summary>Change tracking belongs to whoever holds the writer: it is turned on under the writer's arbitration, and
/// a holder settles what it committed before the writer passes on.</summary>
public sealed class ChangeTrackingTests : PoolTestBase
{
    [Fact]
    public async Task Tracking_turned_on_during_a_lease_transaction_starts_after_it_and_never_reports_part_of_it()
    {
        var pool = await OpenAsync();
        await pool.ExecuteAsync(new Statement("CREATE TABLE a(v); CREATE TABLE b(v); CREATE TABLE c(v)"), Ct);
        var writer = await pool.AcquireAsync(LeaseKind.Writer, Ct);
        await writer.ExecuteAsync(new Statement("BEGIN"), Ct);
        await writer.ExecuteAsync(new Statement("INSERT INTO a VALUES (1)"), Ct);

        var tracking = pool.TrackChangesAsync();
        await writer.ExecuteAsync(new Statement("INSERT INTO b VALUES (1)"), Ct);
        await writer.ExecuteAsync(new Statement("COMMIT"), Ct);
        await writer.DisposeAsync();
        await tracking;
        await pool.ExecuteAsync(new Statement("INSERT INTO c VALUES (1)"), Ct);

        // The transaction began before tracking: none of its tables, and every later commit's.
        Assert.Equal(["c"], pool.TakeChangedTables());
    }

    [Fact]
    public async Task A_commit_group_publishes_its_tables_before_it_gives_the_writer_back()
    {
        using var directory = new TempDirectory();
        using var services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        var meters = services.GetRequiredService<IMeterFactory>();
        await using var registry = new DatabasePoolRegistry(TimeProvider.System, new SqlitePoolMetrics(meters));
        var pool = await registry.GetOrOpenAsync("tracked.db", directory.File("tracked.db"), new DatabaseOptions(), null);
        await pool.ExecuteAsync(new Statement("CREATE TABLE g(v)"), Ct);
        await pool.TrackChangesAsync();

        // The writer's use is measured as it is given back, on the thread that gives it back: what the tracker has
        // published at that instant is what the next holder (whose writes fire the hooks on its own thread) finds.
        var publishedAtRelease = new ConcurrentQueue<string[]>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            // Only this test's meter: other tests' pools in the process publish the same instrument.
            if (instrument.Meter.Scope == meters && instrument.Name == "db.client.connection.use_time")
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<double>((_, _, _, _) => publishedAtRelease.Enqueue(pool.TakeChangedTables()));
        listener.Start();

        await pool.ExecuteAsync(new Statement("INSERT INTO g VALUES (1)"), Ct);

        Assert.Equal(["g"], Assert.Single(publishedAtRelease));
    }

    [Fact]
    public async Task A_commit_stays_reported_when_a_later_write_of_the_same_group_is_rolled_back()
    {
        var pool = await OpenAsync();
        await pool.ExecuteAsync(new Statement("CREATE TABLE a(v); CREATE TABLE b(v PRIMARY KEY)"), Ct);
        await pool.TrackChangesAsync();

        // Both run alone in one hand-off of the writer (a batch with a pragma cannot share a transaction): the first
        // commits, the second fails and is rolled back.
        var holder = await pool.AcquireAsync(LeaseKind.Writer, Ct);
        var committed = pool.ExecuteAsync(new Statement("INSERT INTO a VALUES (1)"), Ct);
        var failing = pool.ExecuteBatchAsync([new Statement("INSERT INTO b VALUES (1)"), new Statement("PRAGMA user_version = 3"), new Statement("INSERT INTO b VALUES (1)")], Ct);
        await holder.DisposeAsync();

        await committed;
        await Assert.ThrowsAsync<SqlStatementException>(() => failing);
        Assert.Equal(["a"], pool.TakeChangedTables());
    }

    [Fact]
    public async Task A_commit_on_a_local_writer_stays_reported_when_a_later_write_of_the_lease_fails()
    {
        var pool = await OpenAsync();
        await pool.ExecuteAsync(new Statement("CREATE TABLE a(v); CREATE TABLE b(v PRIMARY KEY); INSERT INTO b VALUES (1)"), Ct);
        await pool.TrackChangesAsync();

        using (var lease = pool.AcquireLocal(LeaseKind.Writer))
        {
            lease.Prepare("INSERT INTO a VALUES (1)").ExecuteNonQuery();
            Assert.Throws<Microsoft.Data.Sqlite.SqliteException>(() => lease.Prepare("INSERT INTO b VALUES (1)").ExecuteNonQuery());
        }

        Assert.Equal(["a"], pool.TakeChangedTables());
    }
}
