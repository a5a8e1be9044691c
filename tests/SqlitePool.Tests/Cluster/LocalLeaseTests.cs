using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using SqlitePool.Client;
using SqlitePool.Hosting;
using SqlitePool.Tests.Support;

namespace SqlitePool.Tests.Cluster;

/// <summary>Code on the owning silo leases the real connection synchronously, under the grain's arbitration.</summary>
[Collection(ClusterCollection.Name)]
public sealed class LocalLeaseTests(ClusterFixture cluster)
{
    private LocalDatabases Local => cluster.SiloServices.GetRequiredService<LocalDatabases>();

    [Fact]
    public async Task A_local_writer_lease_writes_with_plain_ado_net_and_the_grain_reads_it()
    {
        var path = $"local/{Guid.NewGuid():N}.db";
        var local = await Local.OpenLocalAsync(path);

        using (var writer = local.AcquireWriter())
        {
            Assert.Equal(LeaseKind.Writer, writer.Kind);
            using var create = writer.Connection.CreateCommand();
            create.CommandText = "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)";
            create.ExecuteNonQuery();
            var insert = writer.Prepare("INSERT INTO t(v) VALUES ($v)");
            var v = insert.Parameters.Add("$v", SqliteType.Text);
            foreach (var value in new[] { "a", "b" })
            {
                v.Value = value;
                insert.ExecuteNonQuery();
            }
        }

        using (var reader = local.AcquireReader())
        {
            using var count = reader.Connection.CreateCommand();
            count.CommandText = "SELECT count(*) FROM t";
            Assert.Equal(2L, count.ExecuteScalar());
        }

        Assert.Equal(["a", "b"], await cluster.Client.GetDatabase("local", path).QueryAsync<string>("SELECT v FROM t ORDER BY id"));
    }

    [Fact]
    public async Task A_held_local_writer_makes_grain_writes_wait_and_its_open_transaction_is_rolled_back()
    {
        var path = $"local/{Guid.NewGuid():N}.db";
        var db = cluster.Client.GetDatabase("local", path);
        await db.ExecuteAsync("CREATE TABLE t(v)");
        var local = await Local.OpenLocalAsync(path);

        var writer = local.AcquireWriter();
        using (var begin = writer.Connection.CreateCommand())
        {
            begin.CommandText = "BEGIN IMMEDIATE; INSERT INTO t VALUES ('left open')";
            begin.ExecuteNonQuery();
        }

        var waiting = db.ExecuteAsync("INSERT INTO t VALUES ('after')");
        await ClusterWaits.UntilAsync(async () => (await db.GetStatisticsAsync()).WriterWaiters == 1);
        Assert.False(waiting.IsCompleted);
        writer.Dispose();
        await waiting;

        Assert.Equal(["after"], await db.QueryAsync<string>("SELECT v FROM t"));
        Assert.False((await db.GetStatisticsAsync()).WriterBusy);
    }

    [Fact]
    public async Task A_local_reader_refuses_writes_and_the_pool_works_after()
    {
        var path = $"local/{Guid.NewGuid():N}.db";
        var db = cluster.Client.GetDatabase("local", path);
        await db.ExecuteAsync("CREATE TABLE t(v)");
        var local = await Local.OpenLocalAsync(path);

        using (var reader = local.AcquireReader())
        {
            using var write = reader.Connection.CreateCommand();
            write.CommandText = "INSERT INTO t VALUES (1)";
            Assert.Throws<SqliteException>(() => write.ExecuteNonQuery());
        }

        await db.ExecuteAsync("INSERT INTO t VALUES (2)");
        Assert.Equal([2L], await db.QueryAsync<long>("SELECT v FROM t"));
        Assert.Equal(0, (await db.GetStatisticsAsync()).ReadersBusy);
    }

    [Fact]
    public async Task A_local_database_reopens_after_its_grain_closed_it()
    {
        var path = $"local/{Guid.NewGuid():N}.db";
        var db = cluster.Client.GetDatabase("local", path);
        await db.ExecuteAsync("CREATE TABLE t(v); INSERT INTO t VALUES (1)");
        var local = await Local.OpenLocalAsync(path);

        await db.CloseAsync();

        using var reader = await Task.Run(local.AcquireReader, TestContext.Current.CancellationToken);
        using var count = reader.Connection.CreateCommand();
        count.CommandText = "SELECT count(*) FROM t";
        Assert.Equal(1L, count.ExecuteScalar());
    }
}
