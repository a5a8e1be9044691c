using Microsoft.Extensions.DependencyInjection;
using SqlitePool.Client;
using SqlitePool.Tests.Support;

namespace SqlitePool.Tests.Cluster;

/// <summary>Statement calls made on the silo that holds the database go straight to its open pool.</summary>
[Collection(ClusterCollection.Name)]
public sealed class SiloLocalCallTests(ClusterFixture cluster)
{
    private IClusterClient SiloClient => cluster.SiloServices.GetRequiredService<IClusterClient>();

    private static int GrainCalls(SqliteDatabase db) => ClusterFixture.GrainCalls.GetValueOrDefault(db.Id.GrainKey);

    [Fact]
    public async Task Statements_from_the_silo_reach_an_open_database_without_a_grain_call()
    {
        var path = $"silolocal/{Guid.NewGuid():N}.db";
        var db = SiloClient.GetDatabase("local", path);
        await db.ExecuteAsync("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)");
        var before = GrainCalls(db);
        Assert.True(before >= 1, "the first call opens the database through its grain");

        // The grain just opened the pool: the next calls need not go through it to keep its activation.
        await db.QueryAsync("SELECT 1");

        for (var i = 0; i < 20; i++)
        {
            Assert.Equal(i + 1, (await db.ExecuteAsync("INSERT INTO t(v) VALUES (?)", $"v{i}")).LastInsertRowId);
            Assert.Equal($"v{i}", (await db.QueryAsync("SELECT v FROM t WHERE id = ?", i + 1))[0, 0]);
        }

        var batch = await db.ExecuteBatchAsync(new Statement("INSERT INTO t(v) VALUES ('b1')"), new Statement("INSERT INTO t(v) VALUES ('b2')"));
        Assert.Equal([21L, 22L], batch.Select(r => r.LastInsertRowId));
        var writes = await db.ExecuteEachAsync([new Statement("INSERT INTO t(v) VALUES ('e1')"), new Statement("INSERT INTO nope VALUES (1)")]);
        Assert.NotNull(writes[0].Result);
        Assert.IsType<SqlStatementException>(writes[1].Error);
        var reads = await db.QueryEachAsync([new Statement("SELECT count(*) FROM t"), new Statement("SELECT * FROM nope")]);
        Assert.Equal(23L, reads[0].Result![0, 0]);
        Assert.IsType<SqlStatementException>(reads[1].Error);

        Assert.Equal(before, GrainCalls(db));
        // What they wrote is the database's, as any caller sees it.
        Assert.Equal(23L, await cluster.Database(path).QuerySingleAsync<long>("SELECT count(*) FROM t"));
        Assert.True(GrainCalls(db) > before);
    }

    [Fact]
    public async Task Local_reads_that_pile_up_share_hand_offs_and_each_gets_its_own_row_or_error()
    {
        var db = SiloClient.GetDatabase("local", $"silolocal/{Guid.NewGuid():N}.db");
        await db.ExecuteAsync("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)");
        await db.ExecuteBatchAsync([.. Enumerable.Range(1, 50).Select(i => new Statement("INSERT INTO t(v) VALUES (?)", $"v{i}"))]);
        var before = await db.GetStatisticsAsync();

        // While exclusive access holds every connection, reads pile up: the first few wait in the pool, the rest for a
        // call to carry them, several to one hand-off to a reader once it ends.
        var exclusive = await db.AcquireExclusiveAsync(TestContext.Current.CancellationToken);
        var reads = Enumerable.Range(0, 600).Select(i => i % 10 == 9
            ? db.QueryAsync("SELECT v FROM nope")
            : db.QueryAsync("SELECT v FROM t WHERE id = ?", i % 50 + 1)).ToArray();
        await exclusive.DisposeAsync();
        for (var i = 0; i < reads.Length; i++)
        {
            if (i % 10 == 9)
            {
                await Assert.ThrowsAsync<SqlStatementException>(() => reads[i]);
            }
            else
            {
                Assert.Equal($"v{i % 50 + 1}", (await reads[i])[0, 0]);
            }
        }

        var after = await db.GetStatisticsAsync();
        Assert.Equal(600, after.Reads - before.Reads);
        Assert.InRange(after.SharedReadCalls - before.SharedReadCalls, 1, 600 / 2);
    }

    [Fact]
    public async Task Reads_from_grains_that_pile_up_never_run_on_the_thread_that_sends_them()
    {
        var path = $"silolocal/{Guid.NewGuid():N}.db";
        var relays = Enumerable.Range(0, 9).Select(i => cluster.Client.GetGrain<MultiSilo.IRelayGrain>($"local/pile{i}")).ToArray();
        await relays[0].InsertLocalAsync(path, "a");
        var db = cluster.Database(path);

        // Nine grains read at once while exclusive access holds the database: one read waits for a shared call, which
        // the thread pool sends. It goes to a reader as a call of one, never run on that thread (a grain's reads never are).
        for (var round = 0; round < 10; round++)
        {
            var exclusive = await db.AcquireExclusiveAsync(TestContext.Current.CancellationToken);
            var reads = relays.Select(r => r.ReadAsync("local", path)).ToArray();
            await ClusterWaits.UntilAsync(async () => (await db.GetStatisticsAsync()).ReaderWaiters == 8); // the ninth waits to share
            await exclusive.DisposeAsync();
            await Task.WhenAll(reads);
        }

        Assert.Equal(0L, (await db.GetStatisticsAsync()).ReadsOnCaller);
    }

    [Fact]
    public async Task A_local_call_fails_as_a_grain_call_would_and_the_pool_works_after()
    {
        var db = SiloClient.GetDatabase("local", $"silolocal/{Guid.NewGuid():N}.db");
        await db.ExecuteAsync("CREATE TABLE t(v)");

        await Assert.ThrowsAsync<SqlStatementException>(() => db.ExecuteAsync("INSERT INTO nope VALUES (1)"));
        await Assert.ThrowsAsync<WriteOnReadPathException>(() => db.QueryAsync("INSERT INTO t VALUES (1)"));
        var batch = await Assert.ThrowsAsync<SqlStatementException>(() => db.ExecuteBatchAsync(new Statement("INSERT INTO t VALUES (1)"), new Statement("INSERT INTO nope VALUES (2)")));
        Assert.Equal(1, batch.StatementIndex);

        using var cancelled = new CancellationTokenSource();
        await cancelled.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => db.QueryAsync(new Statement("SELECT 1"), cancelled.Token));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => db.ExecuteAsync(new Statement("INSERT INTO t VALUES (2)"), cancelled.Token));

        await db.ExecuteAsync("INSERT INTO t VALUES (3)");
        Assert.Equal([3L], await db.QueryAsync<long>("SELECT v FROM t"));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_database_closed_under_callers_opens_again_and_keeps_every_acknowledged_write(bool onTheSilo)
    {
        var path = $"silolocal/{Guid.NewGuid():N}.db";
        var db = onTheSilo ? SiloClient.GetDatabase("local", path) : cluster.Database(path);
        await db.ExecuteAsync("CREATE TABLE t(v)");
        var acknowledged = 0;
        using var stop = new CancellationTokenSource();

        async Task WriteAsync(int writer)
        {
            for (var i = 0; !stop.IsCancellationRequested; i++)
            {
                try
                {
                    // With a token, a client's calls go one by one, none shared.
                    await db.ExecuteAsync(new Statement("INSERT INTO t VALUES (?)", $"{writer}-{i}"), TestContext.Current.CancellationToken);
                    Interlocked.Increment(ref acknowledged);
                }
                catch (DatabaseClosedException)
                {
                    // Waited on the pool as it closed under it: nothing of it ran.
                }
            }
        }

        var writers = Enumerable.Range(0, 16).Select(w => Task.Run(() => WriteAsync(w))).ToArray();
        for (var close = 0; close < 5; close++)
        {
            await ClusterWaits.UntilAsync(() => Task.FromResult(Volatile.Read(ref acknowledged) > (close + 1) * 50));
            await db.CloseAsync();
        }

        await stop.CancelAsync();
        await Task.WhenAll(writers);

        Assert.Equal((long)acknowledged, await db.QuerySingleAsync<long>("SELECT count(*) FROM t"));
        Assert.Equal("ok", await db.QuerySingleAsync<string>("PRAGMA quick_check"));
    }

    [Fact]
    public async Task A_grain_reaches_its_own_silos_database_without_a_grain_call()
    {
        var path = $"silolocal/{Guid.NewGuid():N}.db";
        var relay = cluster.Client.GetGrain<MultiSilo.IRelayGrain>("local/relay");
        Assert.Equal(1, await relay.InsertLocalAsync(path, "a"));
        var before = GrainCalls(cluster.Database(path));

        Assert.Equal(2, await relay.InsertAsync("local", path, "b"));
        Assert.Equal(["a", "b"], await relay.ReadAsync("local", path));

        Assert.Equal(before, GrainCalls(cluster.Database(path)));
    }

    [Fact]
    public async Task Reads_from_silo_code_outside_grains_run_on_the_callers_thread_and_reads_from_grains_never()
    {
        var path = $"silolocal/{Guid.NewGuid():N}.db";
        var relay = cluster.Client.GetGrain<MultiSilo.IRelayGrain>("local/relay");
        var stats = cluster.Database(path);
        await relay.InsertLocalAsync(path, "a");
        for (var i = 0; i < 5; i++)
        {
            Assert.Equal(["a"], await relay.ReadLocalAsync(path));
        }

        Assert.Equal(0L, (await stats.GetStatisticsAsync()).ReadsOnCaller);

        // A thread of the silo outside any grain (as a web request's): its reads need no hand-off.
        var db = SiloClient.GetDatabase("local", path);
        await Task.Run(async () =>
        {
            for (var i = 0; i < 5; i++)
            {
                Assert.Equal("a", (await db.QueryAsync("SELECT v FROM t"))[0, 0]);
            }
        }, TestContext.Current.CancellationToken);

        Assert.InRange((await stats.GetStatisticsAsync()).ReadsOnCaller, 1L, 5L);
    }
}
