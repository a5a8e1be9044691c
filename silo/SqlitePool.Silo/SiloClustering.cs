using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Hosting;
using Orleans.Configuration;

namespace SqlitePool.Silo;

/// <summary>Membership and endpoints: localhost clustering by default, Redis when <c>Silo:Redis</c> is set,
/// Kubernetes hosting (pod name as node name) with Redis when <c>Silo:Kubernetes</c> is true.</summary>
internal static class SiloClustering
{
    public static void Configure(ISiloBuilder orleans, SiloSettings silo)
    {
        if (silo.Redis is null)
        {
            if (silo.Kubernetes)
            {
                throw new InvalidOperationException("Silo:Kubernetes needs Silo:Redis for membership.");
            }

            orleans.UseLocalhostClustering(silo.SiloPort, silo.GatewayPort, serviceId: silo.ServiceId, clusterId: silo.ClusterId);
            return;
        }

        orleans.UseRedisClustering(silo.Redis);
        if (silo.Kubernetes)
        {
            // Sets the silo name from the pod, the endpoints from the pod IP and the cluster id from labels.
            orleans.UseKubernetesHosting();
            return;
        }

        orleans.Configure<ClusterOptions>(o =>
        {
            o.ClusterId = silo.ClusterId;
            o.ServiceId = silo.ServiceId;
        });
        if (silo.AdvertisedHost is { } host)
        {
            orleans.ConfigureEndpoints(host, silo.SiloPort, silo.GatewayPort, AddressFamily.InterNetwork, listenOnAnyHostAddress: true);
        }
        else
        {
            orleans.ConfigureEndpoints(IPAddress.Loopback, silo.SiloPort, silo.GatewayPort);
        }
    }
}
