using SqlitePool.Client;

namespace SqlitePool.Hosting;

/// <summary>
/// This silo's databases, addressed without naming the node: inject it into grains or services that run
/// on the silo. <c>Get("orders.db")</c> is <c>GrainFactory.GetDatabase(Node, "orders.db")</c>.
/// </summary>
public sealed class LocalDatabases(IGrainFactory grainFactory, ILocalSiloDetails silo)
{
    /// <summary>This silo's node name.</summary>
    public string Node => silo.Name;

    /// <summary>A handle on the database at <paramref name="path"/> under this silo's data root.</summary>
    /// <exception cref="InvalidDatabasePathException">The path is invalid.</exception>
    public SqliteDatabase Get(string path) => grainFactory.GetDatabase(Node, path);
}
