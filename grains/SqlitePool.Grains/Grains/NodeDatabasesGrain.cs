using Orleans.Concurrency;
using SqlitePool.Engine;
using SqlitePool.Placement;

namespace SqlitePool.Grains;

/// <summary>Reports the pools open on its node. Placed by node name like the database grains, so each node
/// answers for itself; it holds no state and never blocks.</summary>
[Reentrant]
[NodeAffinePlacement]
[GrainType(GrainTypeName)]
internal sealed class NodeDatabasesGrain(DatabasePoolRegistry registry) : Grain, INodeDatabasesGrain
{
    /// <summary>The grain type; its key is a node name alone (database grains' keys are <c>node/path</c>).</summary>
    public const string GrainTypeName = "sqlitepool-node";

    public Task<PoolStatistics[]> GetOpenDatabasesAsync() =>
        Task.FromResult(registry.OpenPools.Select(p => p.GetStatistics()).OrderBy(s => s.Database, StringComparer.Ordinal).ToArray());
}
