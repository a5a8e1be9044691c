namespace SqlitePool;

/// <summary>The lease is unknown to the database, or it already ended (released, expired or revoked).</summary>
[GenerateSerializer, Alias("SqlitePool.LeaseNotFoundException")]
public sealed class LeaseNotFoundException : SqlitePoolException
{
    /// <summary>Creates the exception.</summary>
    public LeaseNotFoundException(string database, LeaseId leaseId, bool expired)
        : base(expired
            ? $"Lease {leaseId} of '{database}' expired after being idle longer than LeaseIdleTimeout; its transaction was rolled back."
            : $"Lease {leaseId} of '{database}' is unknown or was already released.")
    {
        Database = database;
        LeaseId = leaseId;
        Expired = expired;
    }

    /// <summary>The database's grain key.</summary>
    [Id(0)] public string Database { get; }

    /// <summary>The lease asked for.</summary>
    [Id(1)] public LeaseId LeaseId { get; }

    /// <summary>True when the lease existed and expired.</summary>
    [Id(2)] public bool Expired { get; }
}
