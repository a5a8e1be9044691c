using SqlitePool.Tests.Support;

namespace SqlitePool.Tests.Cluster;

[Collection(ClusterCollection.Name)]
public sealed class ClientApiTests(ClusterFixture cluster)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public sealed record Person(long Id, string Name, double? Score);

    public sealed class PersonRow
    {
        public long Id { get; set; }

        public string FullName { get; set; } = "";

        public DateTime CreatedAt { get; set; }

        public bool Active { get; set; }
    }

    [Fact]
    public async Task Execute_and_query_round_trip_values_through_the_grain()
    {
        var db = cluster.NewDatabase();
        await db.ExecuteAsync("CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, score REAL, data BLOB)");

        var inserted = await db.ExecuteAsync("INSERT INTO t(name, score, data) VALUES (?, ?, ?)", "ann", 2.5, new byte[] { 1, 2 });
        var named = await db.ExecuteAsync(new Statement("INSERT INTO t(name, score) VALUES ($n, :s)", new Dictionary<string, object?> { ["n"] = "bob", ["s"] = 2 }), Ct);
        var rows = await db.QueryAsync("SELECT name, score, data FROM t ORDER BY id");

        Assert.Equal((1L, 1L), (inserted.Changes, inserted.LastInsertRowId));
        Assert.Equal(2L, named.LastInsertRowId);
        Assert.Equal(["name", "score", "data"], rows.Columns);
        Assert.Equal<object?>(["ann", 2.5, new byte[] { 1, 2 }, "bob", 2.0, null], rows.Values);
    }

    [Fact]
    public async Task QueryAsync_maps_rows_to_records_and_classes_by_column_name()
    {
        var db = cluster.NewDatabase();
        await db.ExecuteBatchAsync(
            "CREATE TABLE people(id INTEGER PRIMARY KEY, name TEXT, score REAL, full_name TEXT, created_at TEXT, active INTEGER)",
            new Statement("INSERT INTO people(name, score, full_name, created_at, active) VALUES (?, ?, ?, ?, ?)", "ann", 1.5, "Ann A", new DateTime(2026, 1, 2, 3, 4, 5), true),
            new Statement("INSERT INTO people(name, score, full_name, created_at, active) VALUES (?, ?, ?, ?, ?)", "bob", null, "Bob B", new DateTime(2026, 2, 3), false));

        var records = await db.QueryAsync<Person>("SELECT id, name, score FROM people ORDER BY id");
        var classes = await db.QueryAsync<PersonRow>("SELECT id, full_name, created_at, active FROM people ORDER BY id");
        var names = await db.QueryAsync<string>("SELECT name FROM people ORDER BY id");
        var single = await db.QuerySingleAsync<Person>("SELECT id, name, score FROM people WHERE id = ?", 2);

        Assert.Equal([new Person(1, "ann", 1.5), new Person(2, "bob", null)], records);
        Assert.Equal(("Ann A", new DateTime(2026, 1, 2, 3, 4, 5), true), (classes[0].FullName, classes[0].CreatedAt, classes[0].Active));
        Assert.False(classes[1].Active);
        Assert.Equal(["ann", "bob"], names);
        Assert.Equal(new Person(2, "bob", null), single);
        await Assert.ThrowsAsync<InvalidOperationException>(() => db.QuerySingleAsync<Person>("SELECT id, name, score FROM people"));
        await Assert.ThrowsAsync<InvalidOperationException>(() => db.QuerySingleAsync<Person>("SELECT id, name, score FROM people WHERE id = 9"));
    }

    [Fact]
    public async Task ExecuteBatchAsync_is_all_or_nothing()
    {
        var db = cluster.NewDatabase();
        await db.ExecuteAsync("CREATE TABLE t(id INTEGER PRIMARY KEY)");

        var error = await Assert.ThrowsAsync<SqlStatementException>(() => db.ExecuteBatchAsync("INSERT INTO t VALUES (1)", "INSERT INTO t VALUES (1)"));
        var results = await db.ExecuteBatchAsync("INSERT INTO t VALUES (1)", "INSERT INTO t VALUES (2)");

        Assert.Equal((19, 1), (error.ErrorCode, error.StatementIndex));
        Assert.Equal(2, results.Length);
        Assert.Equal(2L, await db.QuerySingleAsync<long>("SELECT count(*) FROM t"));
    }

    [Fact]
    public async Task TransactionAsync_commits_on_success_and_rolls_back_on_exception()
    {
        var db = cluster.NewDatabase();
        await db.ExecuteAsync("CREATE TABLE t(v)");

        var committed = await db.TransactionAsync(async tx =>
        {
            await tx.ExecuteAsync("INSERT INTO t VALUES (1)");
            return await tx.QuerySingleAsync<long>("SELECT count(*) FROM t");
        }, Ct);
        await Assert.ThrowsAsync<InvalidOperationException>(() => db.TransactionAsync(async tx =>
        {
            await tx.ExecuteAsync("INSERT INTO t VALUES (2)");
            throw new InvalidOperationException("boom");
        }, Ct));
        await db.TransactionAsync(async tx =>
        {
            await tx.ExecuteAsync("INSERT INTO t VALUES (3)");
            await tx.RollbackAsync();
        }, Ct);

        Assert.Equal(1L, committed);
        Assert.Equal([1L], await db.QueryAsync<long>("SELECT v FROM t"));
        Assert.Empty((await db.GetStatisticsAsync()).Leases);
    }

    [Fact]
    public async Task Concurrent_transactions_never_overlap()
    {
        var db = cluster.NewDatabase();
        await db.ExecuteBatchAsync("CREATE TABLE counter(n INTEGER)", "INSERT INTO counter VALUES (0)");

        await Task.WhenAll(Enumerable.Range(0, 16).Select(_ => db.TransactionAsync(async tx =>
        {
            var n = await tx.QuerySingleAsync<long>("SELECT n FROM counter");
            await tx.ExecuteAsync("UPDATE counter SET n = ?", n + 1);
        }, Ct)));

        Assert.Equal(16L, await db.QuerySingleAsync<long>("SELECT n FROM counter"));
    }

    [Fact]
    public async Task WithReaderAsync_sees_one_snapshot_while_writes_commit()
    {
        var db = cluster.NewDatabase();
        await db.ExecuteBatchAsync("CREATE TABLE t(v)", "INSERT INTO t VALUES (1)");

        var (before, after) = await db.WithReaderAsync(async reader =>
        {
            var first = await reader.QuerySingleAsync<long>("SELECT count(*) FROM t");
            await db.ExecuteAsync("INSERT INTO t VALUES (2)");
            return (first, await reader.QuerySingleAsync<long>("SELECT count(*) FROM t"));
        }, Ct);

        Assert.Equal((1L, 1L), (before, after));
        Assert.Equal(2L, await db.QuerySingleAsync<long>("SELECT count(*) FROM t"));
    }

    [Fact]
    public async Task Readers_are_not_blocked_by_an_open_writer_transaction_and_do_not_see_it()
    {
        var db = cluster.NewDatabase();
        await db.ExecuteAsync("CREATE TABLE t(v)");

        var seen = await db.WithWriterAsync(async writer =>
        {
            await writer.ExecuteAsync("BEGIN IMMEDIATE");
            await writer.ExecuteAsync("INSERT INTO t VALUES (1)");
            var count = await db.QuerySingleAsync<long>("SELECT count(*) FROM t");
            await writer.ExecuteAsync("COMMIT");
            return count;
        }, Ct);

        Assert.Equal(0L, seen);
        Assert.Equal(1L, await db.QuerySingleAsync<long>("SELECT count(*) FROM t"));
    }

    [Fact]
    public async Task ExclusiveAsync_waits_for_leases_and_holds_new_ones_back()
    {
        var db = cluster.NewDatabase();
        await db.ExecuteAsync("CREATE TABLE t(v)");
        var reader = await db.AcquireReaderAsync(Ct);

        var exclusive = db.ExclusiveAsync(async lease =>
        {
            await lease.ExecuteAsync("INSERT INTO t VALUES ('exclusive')");
            return (await db.GetStatisticsAsync()).ExclusiveHeld;
        }, Ct);
        await ClusterWaits.UntilAsync(async () => (await db.GetStatisticsAsync()).ExclusiveWaiters == 1);
        var write = db.ExecuteAsync("INSERT INTO t VALUES ('after')");
        await db.GetStatisticsAsync();
        Assert.False(exclusive.IsCompleted);
        Assert.False(write.IsCompleted);

        await reader.DisposeAsync();
        Assert.True(await exclusive);
        await write;
        Assert.Equal(["exclusive", "after"], await db.QueryAsync<string>("SELECT v FROM t ORDER BY rowid"));
    }

    [Fact]
    public async Task Statistics_show_readers_writer_and_leases()
    {
        var db = cluster.NewDatabase();
        await db.ExecuteAsync("CREATE TABLE t(v)");
        await using var writer = await db.AcquireWriterAsync(Ct);
        await using var reader = await db.AcquireReaderAsync(Ct);

        var stats = await db.GetStatisticsAsync();

        Assert.Equal(db.Id.GrainKey, stats.Database);
        Assert.True(stats.WriterBusy);
        Assert.Equal((1, 1, 0), (stats.ReadersOpen, stats.ReadersBusy, stats.ReadersIdle));
        Assert.Equal([LeaseKind.Writer, LeaseKind.Reader], stats.Leases.Select(l => l.Kind));
        Assert.Contains(writer.Id, stats.Leases.Select(l => l.Id));
        Assert.True(stats.Writes >= 1);
    }

    [Fact]
    public async Task Statistics_name_each_lease_holder_and_since_when()
    {
        var db = cluster.NewDatabase();
        var before = DateTimeOffset.UtcNow;
        await using var writer = await db.AcquireWriterAsync(Ct);

        var lease = Assert.Single((await db.GetStatisticsAsync()).Leases);

        TestContext.Current.TestOutputHelper?.WriteLine($"holder: {lease.Holder}");
        Assert.True(lease.Holder.IsClient);
        Assert.StartsWith("sys.client", lease.Holder.Caller, StringComparison.Ordinal);
        Assert.Null(lease.Holder.Silo);
        Assert.InRange(lease.AcquiredAt, before.AddSeconds(-1), DateTimeOffset.UtcNow.AddSeconds(1));
    }

    [Fact]
    public async Task Close_deactivates_and_the_next_call_reopens_with_the_data()
    {
        var db = cluster.NewDatabase();
        await db.ExecuteBatchAsync("CREATE TABLE t(v)", "INSERT INTO t VALUES (1)");
        var openedAt = (await db.GetStatisticsAsync()).OpenedAt;

        await db.CloseAsync();

        Assert.Equal(1L, await db.QuerySingleAsync<long>("SELECT count(*) FROM t"));
        Assert.NotEqual(openedAt, (await db.GetStatisticsAsync()).OpenedAt);
    }

    [Fact]
    public async Task The_open_hook_runs_once_under_50_concurrent_first_calls()
    {
        var db = cluster.NewDatabase("hook");

        var results = await Task.WhenAll(Enumerable.Range(0, 50).Select(i => db.QueryAsync("SELECT ?", i)));

        Assert.Equal(Enumerable.Range(0, 50).Select(i => (long)i), results.Select(r => (long)r[0, 0]!));
        Assert.Equal(1, ClusterFixture.HookRuns[db.Id.GrainKey]);
    }

    [Fact]
    public async Task A_slow_query_on_one_database_does_not_delay_other_grains_on_the_silo()
    {
        var slowDb = cluster.NewDatabase("slow");
        var other = cluster.NewDatabase("slow");
        await other.ExecuteAsync("CREATE TABLE t(v)");

        var slow = slowDb.ExecuteAsync("SELECT sleep_ms(5000)");
        await ClusterWaits.UntilAsync(async () => (await slowDb.GetStatisticsAsync()).WriterBusy);
        for (var i = 0; i < 20; i++)
        {
            await other.ExecuteAsync("INSERT INTO t VALUES (?)", i);
            await other.QueryAsync("SELECT count(*) FROM t");
            await cluster.NewDatabase("slow").QueryAsync("SELECT 1");
        }

        Assert.False(slow.IsCompleted, "60 calls to other grains finished while the 5 s statement still ran");
        Assert.Equal(5000L, (await slow).Rows![0, 0]);
    }
}
