using System.Diagnostics;
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
/// died but is not yet declared dead still counts until membership catches up. A node this silo does not know
/// yet makes it read the membership table once; a node known to be alive but not yet usable from this silo
/// (just started, grain types not yet exchanged) is waited for up to <see cref="ArrivingNodeWait"/>.</remarks>
internal sealed partial class NodeAffinePlacementDirector(IClusterMembershipService membership, ILogger<NodeAffinePlacementDirector> logger) : IPlacementDirector
{
    /// <summary>How long placement waits for a node that membership knows as alive but this silo cannot use yet
    /// (a silo that just started, or whose grain types this silo has not yet learned).</summary>
    internal static readonly TimeSpan ArrivingNodeWait = TimeSpan.FromSeconds(10);

    private static readonly TimeSpan ArrivingNodePoll = TimeSpan.FromMilliseconds(25);

    public async Task<SiloAddress> OnAddActivation(PlacementStrategy strategy, PlacementTarget target, IPlacementContext context)
    {
        var key = target.GrainIdentity.Key.ToString()!;
        var node = target.GrainIdentity.Type.ToString() == NodeDatabasesGrain.GrainTypeName ? key : DatabaseId.FromGrainKey(key).Node;
        var refreshed = false;
        var waited = Stopwatch.StartNew();
        while (true)
        {
            var members = membership.CurrentSnapshot.Members.Values;
            var compatible = context.GetCompatibleSilos(target);
            var active = members.Where(m => m.Status == SiloStatus.Active && compatible.Contains(m.SiloAddress)).ToList();
            // A restarted node and its killed predecessor can both look active until membership declares the
            // old one dead: the newest generation is the live one.
            var owner = active.Where(m => IsNode(m, node)).MaxBy(m => m.SiloAddress.Generation);
            if (owner is not null)
            {
                LogPlaced(logger, key, owner.SiloAddress);
                return owner.SiloAddress;
            }

            var newest = members.Where(m => IsNode(m, node)).MaxBy(m => m.SiloAddress.Generation);
            if (newest is null && !refreshed)
            {
                // This silo's view may predate the node's arrival: read the membership table once.
                refreshed = true;
                try
                {
                    await membership.Refresh();
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    // The table could not be read: decide on the view this silo has.
                }

                continue;
            }

            // Known and not gone, yet not usable from here: its arrival has not reached this silo's view or
            // manifest. Wait for it, a bounded time, rather than tell the caller the node is down.
            var arriving = newest is { Status: SiloStatus.Created or SiloStatus.Joining or SiloStatus.Active };
            if (!arriving || waited.Elapsed >= ArrivingNodeWait)
            {
                var live = active.Select(m => m.Name).Distinct().Order(StringComparer.Ordinal).ToArray();
                LogNodeUnavailable(logger, key, node, string.Join(", ", live));
                throw new DatabaseNodeUnavailableException(key, node, live);
            }

            await Task.Delay(ArrivingNodePoll);
        }
    }

    private static bool IsNode(ClusterMember member, string node) => string.Equals(member.Name, node, StringComparison.Ordinal);

    [LoggerMessage(EventId = SqlitePoolEventIds.DatabasePlaced, Level = LogLevel.Debug, Message = "Placed {Grain} on silo {Silo}")]
    private static partial void LogPlaced(ILogger logger, string grain, SiloAddress silo);

    [LoggerMessage(EventId = SqlitePoolEventIds.NodeUnavailable, Level = LogLevel.Warning, Message = "No active silo named {Node} for {Database}; live nodes: {LiveNodes}")]
    private static partial void LogNodeUnavailable(ILogger logger, string database, string node, string liveNodes);
}
