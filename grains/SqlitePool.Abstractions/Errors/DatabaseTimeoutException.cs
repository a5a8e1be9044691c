namespace SqlitePool;

/// <summary>A wait passed its limit: acquiring a connection or lease, or queueing for one.</summary>
[GenerateSerializer, Alias("SqlitePool.DatabaseTimeoutException")]
public sealed class DatabaseTimeoutException : TimeoutException
{
    /// <summary>Creates the exception; the message names the limit and the setting.</summary>
    public DatabaseTimeoutException(string database, string what, TimeSpan limit, string setting)
        : base($"Timed out after {limit.TotalSeconds:0.###} s waiting for {what} of '{database}'; raise {setting} or hold leases for less time.")
    {
        Database = database;
        Limit = limit;
        Setting = setting;
    }

    /// <summary>The database's grain key.</summary>
    [Id(0)] public string Database { get; }

    /// <summary>The limit that passed.</summary>
    [Id(1)] public TimeSpan Limit { get; }

    /// <summary>The option that sets the limit.</summary>
    [Id(2)] public string Setting { get; }
}
