namespace SqlitePool.Client;

/// <summary>The client library on a silo's own databases (<c>LocalDatabases</c>, registered by <c>AddSqlitePool</c>).</summary>
public static class LocalNodeExtensions
{
    /// <summary>A handle on the database at <paramref name="path"/> under this silo's data root:
    /// <c>GrainFactory.GetDatabase(local.Node, path)</c>.</summary>
    /// <exception cref="InvalidDatabasePathException">The path is invalid; nothing was sent.</exception>
    public static SqliteDatabase Get(this ILocalNode local, string path)
    {
        ArgumentNullException.ThrowIfNull(local);
        return local.GrainFactory.GetDatabase(local.Node, path);
    }
}
