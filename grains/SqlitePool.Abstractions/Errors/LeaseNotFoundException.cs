namespace SqlitePool;

/// <summary>The lease is unknown to the database, or it already ended (released, expired or revoked).</summary>
[GenerateSerializer, Alias("SqlitePool.LeaseNotFoundException")]
public sealed class LeaseNotFoundException : SqlitePoolException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="database">The database's grain key.</param>
    /// <param name="leaseId">The lease asked for.</param>
    /// <param name="expiry">Why the lease ended without its holder releasing it (e.g. "was idle longer than
    /// LeaseIdleTimeout", "was revoked: ..."), or null when it is unknown or was released.</param>
    public LeaseNotFoundException(string database, LeaseId leaseId, string? expiry)
        : base(expiry is not null
            ? $"Lease {leaseId} of '{database}' ended: it {expiry}; its transaction was rolled back."
            : $"Lease {leaseId} of '{database}' is unknown or was already released.")
    {
        Database = database;
        LeaseId = leaseId;
        Expired = expiry is not null;
    }

    /// <summary>The database's grain key.</summary>
    [Id(0)] public string Database { get; }

    /// <summary>The lease asked for.</summary>
    [Id(1)] public LeaseId LeaseId { get; }

    /// <summary>True when the lease existed and expired or was revoked.</summary>
    [Id(2)] public bool Expired { get; }
}
