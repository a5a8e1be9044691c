namespace SqlitePool.Client;

/// <summary>Entry points of the client library on <see cref="IGrainFactory"/> (and so on <c>IClusterClient</c>
/// and inside grains, through <c>GrainFactory</c>).</summary>
public static class GrainFactoryDatabaseExtensions
{
    /// <summary>A handle on the database at <paramref name="path"/> under the data root of node <paramref name="node"/>.</summary>
    /// <exception cref="InvalidDatabasePathException">The node or path is invalid; nothing was sent.</exception>
    public static SqliteDatabase GetDatabase(this IGrainFactory grainFactory, string node, string path) =>
        grainFactory.GetDatabase(new DatabaseId(node, path));

    /// <summary>A handle on a database given as <c>[node:]path</c> (the node defaults to <c>local</c>).</summary>
    /// <exception cref="InvalidDatabasePathException">The text is not a valid database id; nothing was sent.</exception>
    public static SqliteDatabase GetDatabase(this IGrainFactory grainFactory, string database) =>
        grainFactory.GetDatabase(DatabaseId.Parse(database));

    /// <summary>A handle on a database.</summary>
    public static SqliteDatabase GetDatabase(this IGrainFactory grainFactory, DatabaseId database)
    {
        ArgumentNullException.ThrowIfNull(grainFactory);
        return new SqliteDatabase(database, grainFactory.GetGrain<IDatabaseGrain>(database.GrainKey), grainFactory);
    }
}
