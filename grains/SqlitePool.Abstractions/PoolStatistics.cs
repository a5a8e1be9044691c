namespace SqlitePool;

/// <summary>A snapshot of one database pool.</summary>
/// <remarks><c>ReadersIdle + ReadersBusy == ReadersOpen</c> and <c>ReadersOpen ≤ MaxReaders</c> always hold.</remarks>
[GenerateSerializer, Immutable, Alias("SqlitePool.PoolStatistics")]
public sealed record PoolStatistics
{
    /// <summary>The database's grain key.</summary>
    [Id(0)] public required string Database { get; init; }

    /// <summary>SQLite's library version.</summary>
    [Id(1)] public required string SqliteVersion { get; init; }

    /// <summary>True while the writer connection is leased or running a statement.</summary>
    [Id(2)] public bool WriterBusy { get; init; }

    /// <summary>True while an exclusive lease is held.</summary>
    [Id(3)] public bool ExclusiveHeld { get; init; }

    /// <summary>Reader connections open now.</summary>
    [Id(4)] public int ReadersOpen { get; init; }

    /// <summary>Open readers not in use.</summary>
    [Id(5)] public int ReadersIdle { get; init; }

    /// <summary>Open readers in use.</summary>
    [Id(6)] public int ReadersBusy { get; init; }

    /// <summary>The most readers the pool opens.</summary>
    [Id(7)] public int MaxReaders { get; init; }

    /// <summary>Callers waiting for the writer.</summary>
    [Id(8)] public int WriterWaiters { get; init; }

    /// <summary>Callers waiting for a reader.</summary>
    [Id(9)] public int ReaderWaiters { get; init; }

    /// <summary>Callers waiting for exclusive access.</summary>
    [Id(10)] public int ExclusiveWaiters { get; init; }

    /// <summary>Statements run as writes since the pool opened.</summary>
    [Id(11)] public long Writes { get; init; }

    /// <summary>Statements run as reads since the pool opened.</summary>
    [Id(12)] public long Reads { get; init; }

    /// <summary>Acquisitions that timed out since the pool opened.</summary>
    [Id(13)] public long Timeouts { get; init; }

    /// <summary>Leases that expired (idle too long or held too long) since the pool opened.</summary>
    [Id(14)] public long ExpiredLeases { get; init; }

    /// <summary>Leases held now.</summary>
    [Id(15)] public LeaseInfo[] Leases { get; init; } = [];

    /// <summary>Size of the write-ahead log in bytes (0 when absent).</summary>
    [Id(16)] public long WalBytes { get; init; }

    /// <summary>When the pool opened.</summary>
    [Id(17)] public DateTimeOffset OpenedAt { get; init; }

    /// <summary>Leases revoked since the pool opened because their holder's silo left or their client stopped answering.</summary>
    [Id(18)] public long RevokedLeases { get; init; }

    /// <summary>Commits of autocommit writes and batches since the pool opened; <see cref="Writes"/> / <c>Commits</c>
    /// is about the group-commit size (leases' own transactions are not counted).</summary>
    [Id(19)] public long Commits { get; init; }

    /// <summary>Frames in the write-ahead log not yet copied back into the database by a checkpoint.</summary>
    [Id(20)] public long WalFramesToCheckpoint { get; init; }

    /// <summary>How long the oldest snapshot held by a reader lease or a stream has been held, or null when none is.</summary>
    [Id(21)] public TimeSpan? OldestReaderAge { get; init; }

    /// <summary>Calls that carried several reads together (<see cref="IDatabaseGrain.QueryEachAsync"/>); their reads
    /// count in <see cref="Reads"/>.</summary>
    [Id(22)] public long SharedReadCalls { get; init; }

    /// <summary>Calls that carried several autocommit writes together (<see cref="IDatabaseGrain.ExecuteEachAsync"/>);
    /// their writes count in <see cref="Writes"/>.</summary>
    [Id(23)] public long SharedWriteCalls { get; init; }

    /// <summary>Reads answered on their caller's own thread, with no hand-off (silo code outside grains, within
    /// <c>CallerThreadReadLimit</c>); they count in <see cref="Reads"/>.</summary>
    [Id(24)] public long ReadsOnCaller { get; init; }

    /// <summary>Reads that ran on the free writer of the database while it had no reader open, saving a reader's open
    /// (those past <c>CallerThreadReadLimit</c> there ran again on a reader); they count in <see cref="Reads"/>.</summary>
    [Id(25)] public long ReadsOnWriter { get; init; }

    /// <summary>The id of the database's last committed transaction (see <see cref="ExecuteResult.TransactionId"/>).</summary>
    [Id(26)] public long TransactionId { get; init; }

    /// <summary>Transaction marks the pool could not write to the lock file since the pool opened: the checkpoints
    /// they had to precede did not run.</summary>
    [Id(27)] public long TransactionMarkFailures { get; init; }

    /// <summary>The database's continuous backup, or null when it has none.</summary>
    [Id(28)] public BackupStatus? Backup { get; init; }
}

/// <summary>A lease held now, by whom and since when.</summary>
[GenerateSerializer, Immutable, Alias("SqlitePool.LeaseInfo")]
public sealed record LeaseInfo(
    [property: Id(0)] LeaseId Id,
    [property: Id(1)] LeaseKind Kind,
    [property: Id(2)] DateTimeOffset AcquiredAt,
    [property: Id(3)] DateTimeOffset LastUsedAt,
    [property: Id(4)] LeaseHolder Holder);

/// <summary>Where a database's continuous backup stands.</summary>
/// <param name="TransactionId">The last transaction stored in the target: a restore reaches it. Null until the target
/// has answered since the database opened.</param>
/// <param name="LagSeconds">How far the target lags: the age of the oldest commit not yet stored (0 when none waits).</param>
/// <param name="LagBytes">The bytes of commits waiting to be stored.</param>
/// <param name="StoredBytes">The bytes stored in the target since the database opened (segments, snapshots, merges).</param>
/// <param name="Error">Why the backup is behind (the target failing, or the chain restarting with a snapshot), or null.</param>
[GenerateSerializer, Immutable, Alias("SqlitePool.BackupStatus")]
public sealed record BackupStatus(
    [property: Id(0), System.Text.Json.Serialization.JsonPropertyName("txid")] long? TransactionId,
    [property: Id(1)] double LagSeconds,
    [property: Id(2)] long LagBytes,
    [property: Id(3)] long StoredBytes,
    [property: Id(4)] string? Error);
