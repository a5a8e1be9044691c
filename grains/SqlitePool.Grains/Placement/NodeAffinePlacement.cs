using Orleans.Placement;

namespace SqlitePool.Placement;

/// <summary>Places a database grain (<c>node/path</c>) only on the active silo whose name is <c>node</c>.</summary>
[GenerateSerializer, Immutable, Alias("SqlitePool.NodeAffinePlacement")]
public sealed class NodeAffinePlacement : PlacementStrategy
{
    internal static NodeAffinePlacement Instance { get; } = new();
}

/// <summary>Marks a grain whose string key starts with a node name as placed by <see cref="NodeAffinePlacement"/>.</summary>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = false)]
public sealed class NodeAffinePlacementAttribute : PlacementAttribute
{
    /// <summary>Creates the attribute.</summary>
    public NodeAffinePlacementAttribute()
        : base(NodeAffinePlacement.Instance)
    {
    }
}
