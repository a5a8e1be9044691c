using System.Collections.Concurrent;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Configuration;
using SqlitePool.Client;
using SqlitePool.Tests.Support;

namespace SqlitePool.Tests.Cluster;

/// <summary>A silo whose database grains are collected after 2 s idle (DatabaseIdleTimeout 2 s, quantum 200 ms):
/// the default relationship (collection age = idle timeout), scaled down.</summary>
public sealed class ShortAgeFixture : IAsyncLifetime
{
    private readonly OneSiloCluster _cluster = new();

    public static ConcurrentDictionary<string, int> Opens { get; } = new();

    public IClusterClient SiloClient => _cluster.SiloServices.GetRequiredService<IClusterClient>();

    public async ValueTask InitializeAsync() => await _cluster.StartAsync(
        o =>
        {
            o.DatabaseIdleTimeout = TimeSpan.FromSeconds(2);
            o.CloseTimeout = TimeSpan.FromMilliseconds(500);
            o.OnDatabaseOpened = c =>
            {
                Opens.AddOrUpdate(c.Database, 1, (_, n) => n + 1);
                c.Connection.CreateFunction("sleep_ms", (long ms) =>
                {
                    Thread.Sleep(TimeSpan.FromMilliseconds(ms));
                    return ms;
                });
            };
        },
        silo => silo.Configure<GrainCollectionOptions>(o => o.CollectionQuantum = TimeSpan.FromMilliseconds(200)));

    public ValueTask DisposeAsync() => _cluster.DisposeAsync();
}

/// <summary>Silo-local calls send their database's grain no message while they run: its activation may be collected
/// as idle under them, and that must not close the database they use.</summary>
public sealed class LocalCallCollectionTests(ShortAgeFixture fixture) : IClassFixture<ShortAgeFixture>
{
    private static int Opens(SqliteDatabase db) => ShortAgeFixture.Opens.GetValueOrDefault(db.Id.GrainKey);

    [Fact]
    public async Task Local_callers_that_start_late_in_the_activations_age_keep_their_database_open()
    {
        var db = fixture.SiloClient.GetDatabase("local", $"late/{Guid.NewGuid():N}.db");
        await db.ExecuteAsync("CREATE TABLE t(v)"); // through the grain: it opens the pool
        await Task.Delay(TimeSpan.FromSeconds(1.85), TestContext.Current.CancellationToken); // the pool stays open
        var acknowledged = 0;
        var errors = new ConcurrentQueue<Exception>();
        var until = DateTime.UtcNow + TimeSpan.FromSeconds(1.5);
        async Task WriteAsync(int writer)
        {
            for (var i = 0; DateTime.UtcNow < until; i++)
            {
                try
                {
                    await db.ExecuteAsync(writer % 2 == 0 ? "INSERT INTO t VALUES (?)" : "INSERT INTO t SELECT ? WHERE sleep_ms(3) > 0", $"{writer}-{i}");
                    Interlocked.Increment(ref acknowledged);
                }
                catch (Exception ex)
                {
                    errors.Enqueue(ex);
                }
            }
        }

        await Task.WhenAll(Enumerable.Range(0, 16).Select(w => Task.Run(() => WriteAsync(w))));

        Assert.Empty(errors);
        Assert.Equal(acknowledged, await db.QuerySingleAsync<long>("SELECT count(*) FROM t"));
        Assert.Equal(1, Opens(db)); // never closed under its callers
    }

    [Fact]
    public async Task A_local_statement_longer_than_the_collection_age_runs_to_its_end()
    {
        var db = fixture.SiloClient.GetDatabase("local", $"long/{Guid.NewGuid():N}.db");
        await db.ExecuteAsync("CREATE TABLE t(v)"); // through the grain
        await db.ExecuteAsync("INSERT INTO t VALUES (0)"); // the pool's first local call: through the grain as well

        // About 4 s with no other call: the activation is collected meanwhile.
        await db.ExecuteAsync("INSERT INTO t WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 80) SELECT sleep_ms(50) FROM c");

        Assert.Equal(81L, await db.QuerySingleAsync<long>("SELECT count(*) FROM t"));
        Assert.Equal(1, Opens(db));
    }
}
