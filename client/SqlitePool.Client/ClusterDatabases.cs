namespace SqlitePool.Client;

/// <summary>The databases open on one node: its pools' statistics, or why the node did not answer.</summary>
/// <param name="Node">The node (silo) name.</param>
/// <param name="Silo">The silo's address.</param>
/// <param name="Databases">Each open pool, ordered by database key; empty when <paramref name="Error"/> is set.</param>
/// <param name="Error">Why the node did not answer, or null.</param>
public sealed record NodeDatabases(string Node, string Silo, IReadOnlyList<PoolStatistics> Databases, string? Error);

/// <summary>Gathers what every node of the cluster has open.</summary>
public static class ClusterDatabases
{
    /// <summary>Asks every active silo, in parallel, for the databases it has open; a node that fails to answer
    /// within <paramref name="timeout"/> (default 5 s) is reported with its error rather than failing the whole.</summary>
    public static async Task<IReadOnlyList<NodeDatabases>> GetOpenDatabasesAsync(this IGrainFactory grainFactory, TimeSpan? timeout = null)
    {
        ArgumentNullException.ThrowIfNull(grainFactory);
        var limit = timeout ?? TimeSpan.FromSeconds(5);
        var hosts = await grainFactory.GetGrain<IManagementGrain>(0).GetDetailedHosts(onlyActive: true).ConfigureAwait(false);
        var nodes = hosts.OrderBy(h => h.SiloName, StringComparer.Ordinal).ToArray();
        return await Task.WhenAll(nodes.Select(async host =>
        {
            try
            {
                var databases = await grainFactory.GetGrain<INodeDatabasesGrain>(host.SiloName).GetOpenDatabasesAsync().WaitAsync(limit).ConfigureAwait(false);
                return new NodeDatabases(host.SiloName, host.SiloAddress.ToString(), databases, null);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                return new NodeDatabases(host.SiloName, host.SiloAddress.ToString(), [], $"{ex.GetType().Name}: {ex.Message}");
            }
        })).ConfigureAwait(false);
    }
}
