namespace SqlitePool;

/// <summary>
/// One per node (silo), keyed by the node name and placed on that node: answers for the databases open there.
/// The client library's <c>GetOpenDatabasesAsync</c> asks every node, for the dashboard and <c>sqlitepool stats</c>.
/// </summary>
[Alias("SqlitePool.INodeDatabasesGrain")]
public interface INodeDatabasesGrain : IGrainWithStringKey
{
    /// <summary>A snapshot of every database pool open on this node, ordered by database key.</summary>
    [Alias("GetOpenDatabases")]
    Task<PoolStatistics[]> GetOpenDatabasesAsync();
}
