namespace SqlitePool;

/// <summary>The database pool was closed while the call waited or ran.</summary>
[GenerateSerializer, Alias("SqlitePool.DatabaseClosedException")]
public sealed class DatabaseClosedException : SqlitePoolException
{
    /// <summary>Creates the exception.</summary>
    public DatabaseClosedException(string database)
        : base($"The pool of '{database}' is closed; a new call opens it again.")
    {
        Database = database;
    }

    /// <summary>The database's grain key.</summary>
    [Id(0)] public string Database { get; }
}
