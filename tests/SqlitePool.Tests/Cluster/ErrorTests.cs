using System.Diagnostics;
using SqlitePool.Client;
using SqlitePool.Tests.Support;

namespace SqlitePool.Tests.Cluster;

/// <summary>Every typed error crosses the grain boundary with its data, and the database works afterwards.</summary>
[Collection(ClusterCollection.Name)]
public sealed class ErrorTests(ClusterFixture cluster)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Sql_errors_arrive_with_primary_and_extended_codes()
    {
        var db = await TableAsync(cluster.NewDatabase());

        var error = await Assert.ThrowsAsync<SqlStatementException>(() => db.ExecuteAsync("INSERT INTO t(id) VALUES (1)"));
        var syntax = await Assert.ThrowsAsync<SqlStatementException>(() => db.QueryAsync("SELEC 1"));

        Assert.Equal((19, 1555), (error.ErrorCode, error.ExtendedErrorCode)); // SQLITE_CONSTRAINT_PRIMARYKEY
        Assert.Equal("INSERT INTO t(id) VALUES (1)", error.Sql);
        Assert.Equal(1, syntax.ErrorCode);
        await AssertUsableAsync(db);
    }

    [Fact]
    public async Task A_write_on_the_read_path_says_to_use_execute()
    {
        var db = await TableAsync(cluster.NewDatabase());

        var error = await Assert.ThrowsAsync<WriteOnReadPathException>(() => db.QueryAsync("DELETE FROM t"));
        var onReader = await Assert.ThrowsAsync<WriteOnReadPathException>(() => db.WithReaderAsync(r => r.ExecuteAsync("DELETE FROM t"), Ct));

        Assert.Contains("use ExecuteAsync", error.Message, StringComparison.Ordinal);
        Assert.Equal(8, onReader.ErrorCode);
        await AssertUsableAsync(db);
    }

    [Fact]
    public async Task Acquisition_timeouts_name_the_limit_and_the_setting()
    {
        var db = await TableAsync(cluster.NewDatabase("short"));
        await using var holder = await db.AcquireWriterAsync(Ct);

        var error = await Assert.ThrowsAsync<DatabaseTimeoutException>(() => db.ExecuteAsync("INSERT INTO t(id) VALUES (2)"));

        Assert.Equal(("AcquireTimeout", TimeSpan.FromMilliseconds(300)), (error.Setting, error.Limit));
        Assert.Contains("raise AcquireTimeout", error.Message, StringComparison.Ordinal);
        Assert.Equal(1, (await db.GetStatisticsAsync()).Timeouts);
        await holder.DisposeAsync();
        await AssertUsableAsync(db);
    }

    [Fact]
    public async Task Unknown_and_released_leases_are_reported()
    {
        var db = await TableAsync(cluster.NewDatabase());
        var lease = await db.AcquireWriterAsync(Ct);
        await lease.DisposeAsync();

        var released = await Assert.ThrowsAsync<LeaseNotFoundException>(() => lease.ExecuteAsync("INSERT INTO t(id) VALUES (5)"));
        var unknown = await Assert.ThrowsAsync<LeaseNotFoundException>(() => db.Grain.QueryOnLeaseAsync(LeaseId.New(), "SELECT 1", Ct));

        Assert.Equal(lease.Id, released.LeaseId);
        Assert.False(unknown.Expired);
        await db.Grain.ReleaseLeaseAsync(lease.Id); // releasing twice is harmless
        await AssertUsableAsync(db);
    }

    [Fact]
    public async Task A_writer_lease_left_open_expires_and_its_transaction_is_rolled_back()
    {
        var db = await TableAsync(cluster.NewDatabase("ttl"));
        var abandoned = await db.AcquireWriterAsync(Ct);
        await abandoned.ExecuteAsync("BEGIN IMMEDIATE");
        await abandoned.ExecuteAsync("INSERT INTO t(id) VALUES (100)");

        // Waits for the writer, which is free only once the abandoned lease has expired.
        await db.ExecuteAsync("INSERT INTO t(id) VALUES (200)");

        var error = await Assert.ThrowsAsync<LeaseNotFoundException>(() => abandoned.ExecuteAsync("COMMIT"));
        Assert.True(error.Expired);
        Assert.Equal([1L, 200L], await db.QueryAsync<long>("SELECT id FROM t ORDER BY id"));
        Assert.Equal(1, (await db.GetStatisticsAsync()).ExpiredLeases);
    }

    [Fact]
    public async Task Closing_fails_waiting_callers_with_pool_closed()
    {
        var db = await TableAsync(cluster.NewDatabase());
        var holder = await db.AcquireWriterAsync(Ct);
        await holder.ExecuteAsync("BEGIN IMMEDIATE");
        await holder.ExecuteAsync("INSERT INTO t(id) VALUES (7)");
        var waiting = db.ExecuteAsync("INSERT INTO t(id) VALUES (8)");
        await ClusterWaits.UntilAsync(async () => (await db.GetStatisticsAsync()).WriterWaiters == 1);

        await db.CloseAsync();

        var error = await Assert.ThrowsAsync<DatabaseClosedException>(() => waiting);
        Assert.Equal(db.Id.GrainKey, error.Database);
        await Assert.ThrowsAsync<LeaseNotFoundException>(() => holder.ExecuteAsync("COMMIT"));
        Assert.Equal([1L], await db.QueryAsync<long>("SELECT id FROM t"));
        await AssertUsableAsync(db);
    }

    [Fact]
    public async Task A_query_cancelled_by_the_client_stops_and_the_database_serves_the_next_call()
    {
        var db = await TableAsync(cluster.NewDatabase());
        using var cancel = new CancellationTokenSource();
        var endless = db.QueryAsync(new Statement("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"), cancel.Token);
        await ClusterWaits.UntilAsync(async () => (await db.GetStatisticsAsync()).ReadersBusy == 1);

        var cancelledAt = Stopwatch.StartNew();
        await cancel.CancelAsync();

        // The client's call ends at once; the grain's reader stops when the interrupt reaches it.
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => endless);
        await ClusterWaits.UntilAsync(async () => (await db.GetStatisticsAsync()).ReadersBusy == 0);
        TestContext.Current.TestOutputHelper?.WriteLine($"reader free {cancelledAt.ElapsedMilliseconds} ms after cancel");
        await AssertUsableAsync(db);
        Assert.Equal(0, (await db.GetStatisticsAsync()).ReadersBusy);
    }

    [Fact]
    public async Task A_key_for_another_node_is_refused_as_node_unavailable()
    {
        var db = cluster.Client.GetDatabase("elsewhere", "x.db");

        var error = await Assert.ThrowsAsync<DatabaseNodeUnavailableException>(() => db.QueryAsync("SELECT 1"));

        Assert.Equal("elsewhere", error.Node);
        Assert.Equal(["local"], error.LiveNodes);
        Assert.False(File.Exists(Path.Combine(cluster.DataRoot, "x.db")));
    }

    [Fact]
    public async Task Unsupported_parameter_types_fail_before_sending()
    {
        var db = await TableAsync(cluster.NewDatabase());

        Assert.Throws<ArgumentException>(() => new Statement("SELECT ?", new object()));
        Assert.Throws<ArgumentException>(() => new Statement("SELECT ?", ulong.MaxValue));
        await AssertUsableAsync(db);
    }

    private static async Task<SqliteDatabase> TableAsync(SqliteDatabase db)
    {
        await db.ExecuteBatchAsync("CREATE TABLE t(id INTEGER PRIMARY KEY)", "INSERT INTO t(id) VALUES (1)");
        return db;
    }

    private static async Task AssertUsableAsync(SqliteDatabase db)
    {
        var id = (await db.ExecuteAsync("INSERT INTO t DEFAULT VALUES")).LastInsertRowId;
        Assert.Equal(id, await db.QuerySingleAsync<long>("SELECT max(id) FROM t"));
        Assert.Empty((await db.GetStatisticsAsync()).Leases);
    }
}
