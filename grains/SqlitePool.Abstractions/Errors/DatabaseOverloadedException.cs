namespace SqlitePool;

/// <summary>A wait queue of a database is full; the call was refused without waiting.</summary>
[GenerateSerializer, Alias("SqlitePool.DatabaseOverloadedException")]
public sealed class DatabaseOverloadedException : SqlitePoolException
{
    /// <summary>Creates the exception; the message names the limit and the setting.</summary>
    public DatabaseOverloadedException(string database, string queue, int limit, string setting)
        : base($"The {queue} queue of '{database}' is full ({limit} waiting); raise {setting} or slow down.")
    {
        Database = database;
        Limit = limit;
        Setting = setting;
    }

    /// <summary>The database's grain key.</summary>
    [Id(0)] public string Database { get; }

    /// <summary>The capacity that was reached.</summary>
    [Id(1)] public int Limit { get; }

    /// <summary>The option that sets the capacity.</summary>
    [Id(2)] public string Setting { get; }
}
