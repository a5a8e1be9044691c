using Microsoft.Extensions.Logging;
using Orleans.Runtime.Placement;
using SqlitePool.Grains;

namespace SqlitePool.Placement;

/// <summary>
/// Chooses the silo for a database grain: the active silo whose name is the key's node (a node grain's key is
/// the node name itself). When that node is
/// absent the caller gets <see cref="DatabaseNodeUnavailableException"/>: the database is never created elsewhere.
/// </summary>
/// <remarks>Runs only when no activation exists. The membership snapshot decides who is active; a silo that
/// died but is not yet declared dead still counts until membership catches up.</remarks>
internal sealed partial class NodeAffinePlacementDirector(IClusterMembershipService membership, ILogger<NodeAffinePlacementDirector> logger) : IPlacementDirector
{
    public Task<SiloAddress> OnAddActivation(PlacementStrategy strategy, PlacementTarget target, IPlacementContext context)
    {
        var key = target.GrainIdentity.Key.ToString()!;
        var node = target.GrainIdentity.Type.ToString() == NodeDatabasesGrain.GrainTypeName ? key : DatabaseId.FromGrainKey(key).Node;
        var compatible = context.GetCompatibleSilos(target);
        var active = membership.CurrentSnapshot.Members.Values
            .Where(m => m.Status == SiloStatus.Active && compatible.Contains(m.SiloAddress))
            .ToList();
        // A restarted node and its killed predecessor can both look active until membership declares the
        // old one dead: the newest generation is the live one.
        var owner = active.Where(m => string.Equals(m.Name, node, StringComparison.Ordinal)).MaxBy(m => m.SiloAddress.Generation);
        if (owner is null)
        {
            var live = active.Select(m => m.Name).Distinct().Order(StringComparer.Ordinal).ToArray();
            LogNodeUnavailable(logger, key, node, string.Join(", ", live));
            throw new DatabaseNodeUnavailableException(key, node, live);
        }

        LogPlaced(logger, key, owner.SiloAddress);
        return Task.FromResult(owner.SiloAddress);
    }

    [LoggerMessage(EventId = SqlitePoolEventIds.DatabasePlaced, Level = LogLevel.Debug, Message = "Placed {Grain} on silo {Silo}")]
    private static partial void LogPlaced(ILogger logger, string grain, SiloAddress silo);

    [LoggerMessage(EventId = SqlitePoolEventIds.NodeUnavailable, Level = LogLevel.Warning, Message = "No active silo named {Node} for {Database}; live nodes: {LiveNodes}")]
    private static partial void LogNodeUnavailable(ILogger logger, string database, string node, string liveNodes);
}
