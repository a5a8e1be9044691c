using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Orleans.Configuration;

namespace SqlitePool.Tests.Process;

/// <summary>An Orleans client in the test process, connected to a silo process's gateway.</summary>
internal sealed class GatewayClient(IHost host) : IDisposable
{
    public IClusterClient Client => host.Services.GetRequiredService<IClusterClient>();

    public static async Task<GatewayClient> ConnectAsync(int gatewayPort, string clusterId)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.UseOrleansClient(client => client
            .UseStaticClustering(new IPEndPoint(IPAddress.Loopback, gatewayPort))
            .Configure<ClusterOptions>(o => o.ClusterId = o.ServiceId = clusterId)
            .Configure<ClientMessagingOptions>(o => o.ResponseTimeout = TimeSpan.FromSeconds(10)));
        var host = builder.Build();
        await host.StartAsync(TestContext.Current.CancellationToken);
        return new GatewayClient(host);
    }

    public void Dispose() => host.Dispose();
}
