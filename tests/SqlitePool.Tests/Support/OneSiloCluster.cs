using Orleans.TestingHost;
using SqlitePool.Hosting;

namespace SqlitePool.Tests.Support;

/// <summary>An in-process cluster of one silo with the pool (node <c>local</c>) on a data root of its own, for tests
/// that need settings the shared <c>ClusterFixture</c> does not have. Disposing it stops the silo and deletes the data.</summary>
internal sealed class OneSiloCluster : IAsyncDisposable
{
    private readonly TempDirectory _directory = new();
    private InProcessTestCluster? _cluster;

    /// <summary>The folder that holds the data root and nothing else.</summary>
    public string Sandbox => _directory.Path;

    public string DataRoot => Path.Combine(_directory.Path, "data");

    public IClusterClient Client => _cluster!.Client;

    /// <summary>The silo's own services, as code running on the silo sees them.</summary>
    public IServiceProvider SiloServices => ((InProcessSiloHandle)_cluster!.Silos[0]).ServiceProvider;

    /// <summary>Starts the silo: the pool gets the data root and node name, then <paramref name="pool"/>;
    /// <paramref name="silo"/> and <paramref name="client"/> configure the rest.</summary>
    public async Task StartAsync(Action<SqlitePoolOptions> pool, Action<ISiloBuilder>? silo = null, Action<IClientBuilder>? client = null)
    {
        var builder = new InProcessTestClusterBuilder(1);
        builder.ConfigureSilo((_, s) =>
        {
            silo?.Invoke(s);
            s.AddSqlitePool(o =>
            {
                o.DataRoot = DataRoot;
                o.NodeName = "local";
                pool(o);
            });
        });
        if (client is not null)
        {
            builder.ConfigureClient(client);
        }

        _cluster = builder.Build();
        await _cluster.DeployAsync();
    }

    public async ValueTask DisposeAsync()
    {
        if (_cluster is not null)
        {
            await _cluster.StopAllSilosAsync();
            await _cluster.DisposeAsync();
        }

        _directory.Dispose();
    }
}
