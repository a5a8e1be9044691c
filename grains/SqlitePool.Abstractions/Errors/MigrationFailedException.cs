namespace SqlitePool;

/// <summary>A schema migration failed when the database opened: it was rolled back, the database stays at
/// <see cref="CurrentVersion"/>, and every call gets this error until the migration is fixed.</summary>
[GenerateSerializer, Alias("SqlitePool.MigrationFailedException")]
public sealed class MigrationFailedException : SqlitePoolException
{
    /// <summary>Creates the exception.</summary>
    public MigrationFailedException(string database, int version, int currentVersion, string reason)
        : base($"Migration {version} of '{database}' failed and was rolled back; the database stays at version {currentVersion}: {reason}")
    {
        Database = database;
        Version = version;
        CurrentVersion = currentVersion;
    }

    /// <summary>The database's grain key.</summary>
    [Id(0)] public string Database { get; }

    /// <summary>The migration that failed.</summary>
    [Id(1)] public int Version { get; }

    /// <summary>The database's <c>user_version</c>, unchanged by the failure.</summary>
    [Id(2)] public int CurrentVersion { get; }
}
