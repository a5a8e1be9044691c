using Orleans.TestingHost;
using SqlitePool.Client;
using SqlitePool.Hosting;
using SqlitePool.Tests.Support;

namespace SqlitePool.Tests.MultiSilo;

/// <summary>Three silos, each with its own data root: a database lives only on its node, even when that node stops.</summary>
public sealed class ThreeSiloClusterTests : IAsyncLifetime
{
    private static readonly string[] Nodes = ["node-a", "node-b", "node-c"];
    private readonly TempDirectory _directory = new();
    private InProcessTestCluster _cluster = null!;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private string DataRoot(string node) => Path.Combine(_directory.Path, node);

    public async ValueTask InitializeAsync()
    {
        var builder = new InProcessTestClusterBuilder(3);
        builder.ConfigureSilo((options, silo) =>
        {
            // Silos are named Silo_0..2 by the test host; each gets a node name and a data root of its own.
            var node = Nodes[int.Parse(options.SiloName.Split('_')[1])];
            silo.AddSqlitePool(o =>
            {
                o.NodeName = node;
                o.DataRoot = DataRoot(node);
                o.HolderCheckInterval = TimeSpan.FromSeconds(1);
                o.AddMigrations("raced/**", new Migration(1, "CREATE TABLE t(v TEXT); CREATE TABLE applied(on_node TEXT); INSERT INTO applied VALUES ('once')"));
            });
        });
        _cluster = builder.Build();
        await _cluster.DeployAsync(Ct);
    }

    public async ValueTask DisposeAsync()
    {
        await _cluster.StopAllSilosAsync();
        await _cluster.DisposeAsync();
        _directory.Dispose();
    }

    [Fact]
    public async Task A_subscriber_on_another_silo_learns_the_tables_of_committed_writes_and_never_of_rolled_back_ones()
    {
        var db = _cluster.Client.GetDatabase("node-b", "watched.db");
        await db.ExecuteBatchAsync(
        [
            new Statement("CREATE TABLE orders(id INTEGER PRIMARY KEY, v TEXT)"), new Statement("CREATE TABLE audit(v TEXT)"),
            new Statement("CREATE TABLE refunds(id INTEGER PRIMARY KEY)"), new Statement("CREATE TABLE customers(id INTEGER PRIMARY KEY, name TEXT)"),
            new Statement("INSERT INTO refunds VALUES (1)"), new Statement("INSERT INTO customers VALUES (1, 'ann')"),
            new Statement("CREATE TABLE last(v)"),
        ], Ct);
        var listener = _cluster.Client.GetGrain<IChangeListenerGrain>("node-c/listener");
        await listener.ListenAsync("node-b", "watched.db");

        await db.ExecuteAsync("INSERT INTO orders(v) VALUES ('committed')");
        await Assert.ThrowsAsync<InvalidOperationException>(() => db.TransactionAsync(async tx =>
        {
            await tx.ExecuteAsync("INSERT INTO audit VALUES ('rolled back')");
            throw new InvalidOperationException("changed my mind");
        }, Ct));
        // Row 2 is written (SQLite reports it) before row 1 fails the statement, which undoes both.
        await Assert.ThrowsAsync<SqlStatementException>(() => db.ExecuteAsync("INSERT INTO refunds VALUES (2), (1)"));
        await Assert.ThrowsAsync<SqlStatementException>(() => db.ExecuteBatchAsync([new Statement("INSERT INTO audit VALUES ('batch')"), new Statement("INSERT INTO nowhere VALUES (1)")], Ct));
        // Inside a transaction that commits, a failed statement is undone alone.
        await db.TransactionAsync(async tx =>
        {
            await Assert.ThrowsAsync<SqlStatementException>(() => tx.ExecuteAsync("INSERT INTO refunds VALUES (4), (1)"));
            await tx.ExecuteAsync("INSERT INTO orders(v) VALUES ('in a transaction')");
        }, Ct);
        // Writes committed together: the failing one is undone alone.
        var grouped = Enumerable.Range(0, 20).Select(i => i == 7
            ? db.ExecuteAsync("INSERT INTO refunds VALUES (3), (1)")
            : db.ExecuteAsync("UPDATE customers SET name = ? WHERE id = 1", $"ann {i}")).ToArray();
        await Assert.ThrowsAsync<SqlStatementException>(() => Task.WhenAll(grouped));

        // A last committed write: whatever the writes above let through was sent no later than it.
        await db.ExecuteAsync("INSERT INTO last VALUES (1)");
        await ClusterWaits.UntilAsync(async () => (await listener.GetSeenAsync()).Contains("last"));

        Assert.Equal(["customers", "last", "orders"], (await listener.GetSeenAsync()).Distinct().Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task Callers_on_two_silos_racing_to_activate_a_database_see_its_migration_applied_once()
    {
        var onA = _cluster.Client.GetGrain<IRelayGrain>("node-a/racer");
        var onC = _cluster.Client.GetGrain<IRelayGrain>("node-c/racer");

        await Task.WhenAll(
            onA.InsertAsync("node-b", "raced/r.db", "from-a"),
            onC.InsertAsync("node-b", "raced/r.db", "from-c"),
            _cluster.Client.GetDatabase("node-b", "raced/r.db").ExecuteAsync("INSERT INTO t(v) VALUES ('client')"));

        var db = _cluster.Client.GetDatabase("node-b", "raced/r.db");
        Assert.Equal(["once"], (await db.QueryAsync("SELECT on_node FROM applied")).Values);
        Assert.Equal(1L, (await db.QueryAsync("PRAGMA user_version"))[0, 0]);
        Assert.Equal(3L, (await db.QueryAsync("SELECT count(*) FROM t"))[0, 0]);
    }

    [Fact]
    public async Task A_backup_streams_to_another_node_and_restores_there_as_a_new_database()
    {
        var source = _cluster.Client.GetDatabase("node-b", "sales.db");
        await source.ExecuteAsync("CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB)");
        // About 3 MiB, so the copy travels in several chunks.
        await source.ExecuteBatchAsync(Enumerable.Range(0, 300).Select(_ => new Statement("INSERT INTO t(v) VALUES (randomblob(10000))")), Ct);

        var result = await source.BackupToAsync(new DatabaseId("node-c", "copies/sales.db"), Ct);

        Assert.True(result.Bytes > 3_000_000, $"{result.Bytes} bytes");
        Assert.True(File.Exists(Path.Combine(DataRoot("node-c"), "copies", "sales.db")));
        Assert.False(Directory.Exists(Path.Combine(DataRoot("node-b"), "copies")));
        var copy = _cluster.Client.GetDatabase("node-c", "copies/sales.db");
        Assert.Equal(
            (await source.QueryAsync("SELECT count(*), sum(length(v)), max(id) FROM t")).Values,
            (await copy.QueryAsync("SELECT count(*), sum(length(v)), max(id) FROM t")).Values);
        Assert.Equal("node-c/copies/sales.db", (await copy.GetStatisticsAsync()).Database);
    }

    [Fact]
    public async Task The_cluster_lists_every_open_database_under_the_node_that_holds_it()
    {
        foreach (var node in Nodes)
        {
            await _cluster.Client.GetDatabase(node, $"listed/{node}.db").ExecuteAsync("CREATE TABLE IF NOT EXISTS t(v)");
        }

        var nodes = await _cluster.Client.GetOpenDatabasesAsync();

        Assert.Equal(Nodes, nodes.Select(n => n.Node));
        foreach (var node in nodes)
        {
            Assert.Null(node.Error);
            Assert.Contains($"{node.Node}/listed/{node.Node}.db", node.Databases.Select(d => d.Database));
            Assert.All(node.Databases, d => Assert.StartsWith(node.Node + "/", d.Database, StringComparison.Ordinal));
        }
    }

    [Fact]
    public async Task A_database_on_node_b_is_served_to_a_client_and_to_grains_on_a_and_c_and_lives_only_on_b()
    {
        var db = _cluster.Client.GetDatabase("node-b", "orders/2026.db");
        await db.ExecuteAsync("CREATE TABLE t(v TEXT)");
        await db.ExecuteAsync("INSERT INTO t(v) VALUES ('client')");
        var onA = _cluster.Client.GetGrain<IRelayGrain>("node-a/relay");
        var onC = _cluster.Client.GetGrain<IRelayGrain>("node-c/relay");

        await onA.InsertAsync("node-b", "orders/2026.db", "from-a");
        await onC.InsertAsync("node-b", "orders/2026.db", "from-c");

        Assert.Equal(("node-a", "node-c"), (await onA.GetNodeAsync(), await onC.GetNodeAsync()));
        Assert.Equal(["client", "from-a", "from-c"], await onA.ReadAsync("node-b", "orders/2026.db"));
        Assert.True(File.Exists(Path.Combine(DataRoot("node-b"), "orders", "2026.db")));
        Assert.False(Directory.Exists(Path.Combine(DataRoot("node-a"), "orders")));
        Assert.False(Directory.Exists(Path.Combine(DataRoot("node-c"), "orders")));
    }

    [Fact]
    public async Task Code_on_a_silo_addresses_its_own_databases_without_naming_the_node()
    {
        var onC = _cluster.Client.GetGrain<IRelayGrain>("node-c/local-relay");

        await onC.InsertLocalAsync("mine.db", "here");

        Assert.Equal(["here"], await _cluster.Client.GetDatabase("node-c", "mine.db").QueryAsync<string>("SELECT v FROM t"));
        Assert.True(File.Exists(Path.Combine(DataRoot("node-c"), "mine.db")));
    }

    [Fact]
    public async Task A_stopped_node_is_unavailable_nothing_moves_and_its_data_returns_with_it()
    {
        var db = _cluster.Client.GetDatabase("node-b", "kept.db");
        await db.ExecuteBatchAsync("CREATE TABLE t(v TEXT)", "INSERT INTO t(v) VALUES ('before')");
        var siloB = _cluster.Silos.Single(s => s.Name == "Silo_1");

        await _cluster.StopSiloAsync(siloB, Ct);
        var error = await Assert.ThrowsAsync<DatabaseNodeUnavailableException>(() => db.QueryAsync("SELECT v FROM t"));
        var fromGrain = await Assert.ThrowsAsync<DatabaseNodeUnavailableException>(() => _cluster.Client.GetGrain<IRelayGrain>("node-a/relay").ReadAsync("node-b", "kept.db"));

        Assert.Equal("node-b", error.Node);
        Assert.Equal(["node-a", "node-c"], error.LiveNodes);
        Assert.Equal("node-b", fromGrain.Node);
        Assert.False(File.Exists(Path.Combine(DataRoot("node-a"), "kept.db")));
        Assert.False(File.Exists(Path.Combine(DataRoot("node-c"), "kept.db")));

        // Instance 1 again: the same node name and data root as before. Silos whose view of the cluster has not
        // caught up with its arrival yet wait for it rather than call it unavailable.
        var restarted = await _cluster.StartSiloAsync(1, _cluster.Options, Ct);
        Assert.Equal(["before"], await _cluster.Client.GetGrain<IRelayGrain>("node-a/relay-after").ReadAsync("node-b", "kept.db"));
        Assert.Equal("before", await db.QuerySingleAsync<string>("SELECT v FROM t"));
        await _cluster.StopSiloAsync(restarted, Ct);
    }

    [Fact]
    public async Task A_lease_held_by_a_grain_is_revoked_when_its_silo_leaves_and_its_transaction_rolled_back()
    {
        var db = _cluster.Client.GetDatabase("node-b", "held.db");
        await db.ExecuteAsync("CREATE TABLE t(v TEXT)");
        var siloC = _cluster.Silos.Single(s => s.Name == "Silo_2");
        await _cluster.Client.GetGrain<IRelayGrain>("node-c/holder").HoldOpenTransactionAsync("node-b", "held.db", "abandoned");

        var holder = Assert.Single((await db.GetStatisticsAsync()).Leases).Holder;
        Assert.False(holder.IsClient);
        Assert.Contains("node-c/holder", holder.Caller, StringComparison.Ordinal);
        Assert.Equal(siloC.SiloAddress.ToParsableString(), holder.Silo);

        // The holder's silo leaves without releasing; the next writer waits only until membership says so.
        await _cluster.StopSiloAsync(siloC, Ct);
        await db.ExecuteAsync("INSERT INTO t(v) VALUES ('after')");

        var stats = await db.GetStatisticsAsync();
        Assert.Equal((1L, 0L), (stats.RevokedLeases, stats.ExpiredLeases));
        Assert.Empty(stats.Leases);
        Assert.Equal(["after"], await db.QueryAsync<string>("SELECT v FROM t"));
    }

    [Fact]
    public async Task A_node_that_never_existed_names_the_live_nodes()
    {
        var db = _cluster.Client.GetDatabase("node-zz", "x.db");
        DatabaseNodeUnavailableException error = null!;

        // A silo that just started may not yet see every other silo as active.
        await ClusterWaits.UntilAsync(async () =>
            (error = await Assert.ThrowsAsync<DatabaseNodeUnavailableException>(() => db.QueryAsync("SELECT 1"))).LiveNodes.Length == Nodes.Length);

        Assert.Equal(Nodes, error.LiveNodes);
        Assert.Contains("node-zz", error.Message, StringComparison.Ordinal);
    }
}
