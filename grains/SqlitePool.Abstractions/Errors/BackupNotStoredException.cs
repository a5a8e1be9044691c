namespace SqlitePool;

/// <summary>
/// With <c>AckAfterBackup</c>, a write committed on the database's node but its commit was not stored in the backup
/// target in time: it is not acknowledged. The write may survive (it is on the node's disk, and is shipped once the
/// target is back) or be lost with the disk; read <see cref="TransactionId"/> back to know.
/// </summary>
[GenerateSerializer, Alias("SqlitePool.BackupNotStoredException")]
public sealed class BackupNotStoredException : SqlitePoolException
{
    /// <summary>Creates the exception; the message names the transaction, the wait and why.</summary>
    public BackupNotStoredException(string database, long transactionId, TimeSpan waited, string? reason)
        : base($"Transaction {transactionId} of '{database}' committed but was not stored in the backup target within {waited.TotalSeconds:0.###} s (AckTimeout){(reason is null ? "" : ": " + reason)}; it is not acknowledged.")
    {
        Database = database;
        TransactionId = transactionId;
    }

    /// <summary>The database's grain key.</summary>
    [Id(0)] public string Database { get; }

    /// <summary>The transaction that was not stored.</summary>
    [Id(1)] public long TransactionId { get; }
}
