namespace SqlitePool;

/// <summary>A backup or restore named a source database that does not exist (it is not created for the occasion).</summary>
[GenerateSerializer, Alias("SqlitePool.DatabaseNotFoundException")]
public sealed class DatabaseNotFoundException : SqlitePoolException
{
    /// <summary>Creates the exception.</summary>
    public DatabaseNotFoundException(string database)
        : base($"The database '{database}' does not exist.")
    {
        Database = database;
    }

    /// <summary>The database's grain key.</summary>
    [Id(0)] public string Database { get; }
}
