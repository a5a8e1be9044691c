using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Orleans.Configuration;

namespace SqlitePool.Cli;

/// <summary>An Orleans client connected to one gateway, for the length of one command.</summary>
internal sealed class ClusterConnection : IAsyncDisposable
{
    private readonly IHost _host;

    private ClusterConnection(IHost host) => _host = host;

    public IClusterClient Client => _host.Services.GetRequiredService<IClusterClient>();

    /// <exception cref="UsageException">The gateway is not HOST:PORT.</exception>
    /// <exception cref="GatewayUnreachableException">No connection within <paramref name="timeout"/>.</exception>
    /// <param name="gateway">HOST:PORT of one gateway, used when <paramref name="redis"/> is null.</param>
    /// <param name="redis">HOST:PORT of the Redis membership store: every gateway of the cluster is found there.</param>
    public static async Task<ClusterConnection> ConnectAsync(string gateway, string? redis, string clusterId, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var endpoint = redis is null ? await ResolveAsync(gateway, cancellationToken) : null;
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        // Ctrl+C and SIGTERM belong to the command (System.CommandLine cancels it); the host's console lifetime
        // would swallow them waiting for a shutdown nobody awaits.
        builder.Services.AddSingleton<IHostLifetime, CommandHostLifetime>();
        builder.UseOrleansClient(client =>
        {
            if (endpoint is null)
            {
                client.UseRedisClustering(redis!);
            }
            else
            {
                client.UseStaticClustering(endpoint);
            }

            client.Configure<ClusterOptions>(o =>
            {
                o.ClusterId = clusterId;
                o.ServiceId = clusterId;
            });
        });
        var host = builder.Build();

        // The Orleans client keeps retrying an absent gateway for minutes; a command gives up sooner.
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        try
        {
            await host.StartAsync(deadline.Token);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            host.Dispose();
            throw new GatewayUnreachableException($"No gateway answered at {redis ?? gateway} within {timeout.TotalSeconds:0.#} s (--connect-timeout).");
        }
        catch
        {
            host.Dispose();
            throw;
        }

        return new ClusterConnection(host);
    }

    public async ValueTask DisposeAsync()
    {
        using var quick = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        try
        {
            await _host.StopAsync(quick.Token);
        }
        catch (OperationCanceledException)
        {
            // Leaving: a slow goodbye to the gateway must not hold the command's exit.
        }

        _host.Dispose();
    }

    private static async Task<IPEndPoint> ResolveAsync(string gateway, CancellationToken cancellationToken)
    {
        var colon = gateway.LastIndexOf(':');
        if (colon <= 0 || !int.TryParse(gateway.AsSpan(colon + 1), out var port) || port is < 1 or > 65535)
        {
            throw new UsageException($"--gateway '{gateway}' is not HOST:PORT.");
        }

        var host = gateway[..colon].Trim('[', ']');
        if (IPAddress.TryParse(host, out var address))
        {
            return new IPEndPoint(address, port);
        }

        try
        {
            var addresses = await Dns.GetHostAddressesAsync(host, cancellationToken);
            var chosen = addresses.FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetwork) ?? addresses.First();
            return new IPEndPoint(chosen, port);
        }
        catch (Exception ex) when (ex is SocketException or InvalidOperationException)
        {
            throw new GatewayUnreachableException($"Cannot resolve gateway host '{host}': {ex.Message}");
        }
    }
}

/// <summary>The gateway could not be reached.</summary>
internal sealed class GatewayUnreachableException(string message) : Exception(message);

/// <summary>A host lifetime that leaves process signals to the command line.</summary>
internal sealed class CommandHostLifetime : IHostLifetime
{
    public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
