using Microsoft.Extensions.DependencyInjection;
using SqlitePool.Client;
using SqlitePool.Engine;
using SqlitePool.Hosting;
using SqlitePool.Tests.Support;

namespace SqlitePool.Tests.Cluster;

/// <summary>More databases in use than the silo's file budget holds open: databases close and reopen under the
/// callers' feet, and no caller notices.</summary>
public sealed class ManyDatabasesTests : IAsyncLifetime
{
    private const int Databases = 40;
    private readonly OneSiloCluster _cluster = new();

    [Fact]
    public async Task Concurrent_calls_on_more_databases_than_fit_all_succeed_and_keep_every_write()
    {
        var dbs = Enumerable.Range(0, Databases).Select(i => _cluster.Client.GetDatabase("local", $"many/t{i}.db")).ToArray();
        await Task.WhenAll(dbs.Select(db => db.ExecuteAsync("CREATE TABLE t(id INTEGER PRIMARY KEY, v INTEGER)")));
        var written = new int[Databases];

        // 16 callers, 150 operations each on random databases: two in five are inserts.
        await Task.WhenAll(Enumerable.Range(0, 16).Select(caller => Task.Run(async () =>
        {
            var random = new Random(caller);
            for (var op = 0; op < 150; op++)
            {
                var i = random.Next(Databases);
                if (random.Next(5) < 2)
                {
                    await dbs[i].ExecuteAsync("INSERT INTO t(v) VALUES (?)", op);
                    Interlocked.Increment(ref written[i]);
                }
                else
                {
                    await dbs[i].QueryAsync("SELECT count(*) FROM t");
                }
            }
        }, TestContext.Current.CancellationToken)));

        for (var i = 0; i < Databases; i++)
        {
            Assert.Equal(written[i], await dbs[i].QuerySingleAsync<long>("SELECT count(*) FROM t"));
        }

        var registry = _cluster.SiloServices.GetRequiredService<DatabasePoolRegistry>();
        Assert.True(registry.Evictions > 0, $"databases were closed to make room (limit {registry.FileBudget.Limit}, used {registry.FileBudget.Used})");
        Assert.InRange(registry.FileBudget.Used, 0, registry.FileBudget.Limit);
    }

    public async ValueTask InitializeAsync() => await _cluster.StartAsync(o => o.MaxOpenFiles = 8 * OpenFileBudget.PerDatabase);

    public ValueTask DisposeAsync() => _cluster.DisposeAsync();
}
