using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orleans.Configuration;
using SqlitePool.Client;
using SqlitePool.Hosting;

namespace SqlitePool.Benchmarks;

/// <summary>A silo with the pool in this process; its own client calls are co-hosted (no network).</summary>
internal sealed class BenchmarkSilo : IAsyncDisposable
{
    private readonly IHost _host;
    private bool _stopped;

    private BenchmarkSilo(IHost host, string dataRoot, int gatewayPort, string clusterId)
    {
        _host = host;
        DataRoot = dataRoot;
        GatewayPort = gatewayPort;
        ClusterId = clusterId;
    }

    public string DataRoot { get; }

    public int GatewayPort { get; }

    public string ClusterId { get; }

    public IServiceProvider Services => _host.Services;

    public SqliteDatabase Database(string path) => _host.Services.GetRequiredService<IClusterClient>().GetDatabase("local", path);

    /// <summary>The silo of the single-database scenarios: two readers per database, <c>normal/**</c> at NORMAL.</summary>
    public static Task<BenchmarkSilo> StartAsync(string dataRoot) => StartAsync(dataRoot, o =>
    {
        o.MaxReaders = 2;
        o.Databases.Add(new DatabaseOverride { Pattern = "normal/**", Synchronous = "NORMAL" });
    });

    /// <summary>A silo whose pool has the default options but for the data root, the node name <c>local</c> and
    /// what <paramref name="configure"/> sets.</summary>
    public static async Task<BenchmarkSilo> StartAsync(string dataRoot, Action<SqlitePoolOptions> configure)
    {
        var (siloPort, gatewayPort) = (FreePort(), FreePort());
        var clusterId = "bench-" + Environment.ProcessId;
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.UseOrleans(silo => silo
            .UseLocalhostClustering(siloPort, gatewayPort, serviceId: clusterId, clusterId: clusterId)
            .AddSqlitePool(o =>
            {
                o.DataRoot = dataRoot;
                o.NodeName = "local";
                configure(o);
            }));
        var host = builder.Build();
        await host.StartAsync();
        return new BenchmarkSilo(host, dataRoot, gatewayPort, clusterId);
    }

    /// <summary>Stops the silo's host (then <see cref="DisposeAsync"/> only disposes it).</summary>
    public async Task StopAsync()
    {
        _stopped = true;
        await _host.StopAsync();
    }

    public async ValueTask DisposeAsync()
    {
        if (!_stopped)
        {
            await _host.StopAsync();
        }

        _host.Dispose();
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
