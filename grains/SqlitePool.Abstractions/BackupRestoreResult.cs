namespace SqlitePool;

/// <summary>Where a restore from a continuous backup stops: at transaction <see cref="TransactionId"/>, at the last
/// commit at or before <see cref="Time"/>, or (neither given) at the latest one stored.</summary>
[GenerateSerializer, Immutable, Alias("SqlitePool.BackupPoint")]
public readonly record struct BackupPoint(
    [property: Id(0)] long? TransactionId = null,
    [property: Id(1)] DateTimeOffset? Time = null)
{
    /// <summary>The latest transaction stored.</summary>
    public static BackupPoint Latest => default;
}

/// <summary>A finished restore from a continuous backup: whose backup, into which database, the transaction restored
/// to and when it committed, the stored objects read, and the restored file's size.</summary>
[GenerateSerializer, Immutable, Alias("SqlitePool.BackupRestoreResult")]
public sealed record BackupRestoreResult(
    [property: Id(0)] string Source,
    [property: Id(1)] string Destination,
    [property: Id(2)] long TransactionId,
    [property: Id(3)] DateTimeOffset CommittedAt,
    [property: Id(4)] int ObjectsRead,
    [property: Id(5)] long Bytes);
