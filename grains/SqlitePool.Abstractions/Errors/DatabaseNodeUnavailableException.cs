namespace SqlitePool;

/// <summary>The node that holds the database is not an active member of the cluster.</summary>
[GenerateSerializer, Alias("SqlitePool.DatabaseNodeUnavailableException")]
public sealed class DatabaseNodeUnavailableException : SqlitePoolException
{
    /// <summary>Creates the exception.</summary>
    public DatabaseNodeUnavailableException(string database, string node, string[] liveNodes)
        : base($"Node '{node}' that holds '{database}' is not available; live nodes: {(liveNodes.Length == 0 ? "none" : string.Join(", ", liveNodes))}.")
    {
        Database = database;
        Node = node;
        LiveNodes = liveNodes;
    }

    /// <summary>The database's grain key.</summary>
    [Id(0)] public string Database { get; }

    /// <summary>The node asked for.</summary>
    [Id(1)] public string Node { get; }

    /// <summary>The nodes active when the call was placed.</summary>
    [Id(2)] public string[] LiveNodes { get; }
}
