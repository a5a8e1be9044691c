namespace SqlitePool;

/// <summary>A restore or backup named a destination database that already exists; nothing was written.</summary>
[GenerateSerializer, Alias("SqlitePool.DatabaseExistsException")]
public sealed class DatabaseExistsException : SqlitePoolException
{
    /// <summary>Creates the exception.</summary>
    public DatabaseExistsException(string database)
        : base($"The database '{database}' already exists; a backup is restored only into a new database key.")
    {
        Database = database;
    }

    /// <summary>The destination's grain key.</summary>
    [Id(0)] public string Database { get; }
}
