namespace SqlitePool;

/// <summary>Another activation or process holds the database's lock file, so this one refused to open it
/// as writer. Nothing was written.</summary>
[GenerateSerializer, Alias("SqlitePool.DatabaseLockedException")]
public sealed class DatabaseLockedException : SqlitePoolException
{
    /// <summary>Creates the exception.</summary>
    public DatabaseLockedException(string database, string lockFile)
        : base($"'{database}' is already open in another activation or process (it holds the exclusive lock on '{lockFile}'); only one writer may own a database.")
    {
        Database = database;
        LockFile = lockFile;
    }

    /// <summary>The database's key.</summary>
    [Id(0)] public string Database { get; }

    /// <summary>The lock file beside the database.</summary>
    [Id(1)] public string LockFile { get; }
}
