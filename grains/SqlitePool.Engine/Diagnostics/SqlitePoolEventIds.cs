namespace SqlitePool;

/// <summary>Event ids of the pool's log messages: 1000 lifecycle, 2000 leases, 3000 statements, 4000 placement.</summary>
public static class SqlitePoolEventIds
{
    /// <summary>A database pool opened.</summary>
    public const int DatabaseOpened = 1000;

    /// <summary>A database pool closed.</summary>
    public const int DatabaseClosed = 1001;

    /// <summary>A database could not be opened; its callers get the error.</summary>
    public const int DatabaseOpenFailed = 1002;

    /// <summary>A close passed <c>CloseTimeout</c>: what still ran was stopped, and connections still held by
    /// silo-local leases were revoked (they close, and the writer releases the lock file, when given back).</summary>
    public const int CloseTimedOut = 1003;

    /// <summary>Closing a database failed part of the way; its writer closes and its lock file is released all the same.</summary>
    public const int CloseFailed = 1004;

    /// <summary>A database nobody used for <c>DatabaseIdleTimeout</c> closed; the next call opens it again.</summary>
    public const int ClosedIdle = 1005;

    /// <summary>The silo is closing its open databases as it stops (progress, with how many are left).</summary>
    public const int ShutdownProgress = 1006;

    /// <summary>A database's grain was collected as idle while silo-local callers still used its pool: the pool stays
    /// open, closes by itself once idle, and the next activation takes it.</summary>
    public const int LeftOpenInUse = 1007;

    /// <summary>A database opened without an exact count of its transactions (no mark in its lock file for a database
    /// with content, a log that started over more than once since the mark, a marked frame gone, or a replaced WAL
    /// hook): its transaction ids jump ahead so that none repeats.</summary>
    public const int TransactionIdsJumped = 1008;

    /// <summary>A lease was granted.</summary>
    public const int LeaseAcquired = 2000;

    /// <summary>A lease was revoked because its holder's silo left or its client stopped answering.</summary>
    public const int LeaseRevoked = 2001;

    /// <summary>A lease was released by its holder.</summary>
    public const int LeaseReleased = 2002;

    /// <summary>A lease expired: idle past <c>LeaseIdleTimeout</c> or held past <c>MaxLeaseHoldTime</c>.</summary>
    public const int LeaseExpired = 2003;

    /// <summary>A caller waited past <c>AcquireTimeout</c> for a connection.</summary>
    public const int AcquireTimedOut = 2004;

    /// <summary>A reader lease or stream lost its snapshot: held past <c>MaxReaderSnapshotAge</c> while the log was over its limit.</summary>
    public const int SnapshotEnded = 2005;

    /// <summary>A statement ran past <c>StatementTimeout</c> and was interrupted.</summary>
    public const int StatementTimedOut = 3000;

    /// <summary>The checkpoint governor ran a checkpoint.</summary>
    public const int Checkpointed = 3001;

    /// <summary>A checkpoint did not run: the transaction mark that must precede it could not be written to the lock
    /// file (its disk failed). The log grows until one can.</summary>
    public const int CheckpointSkipped = 3002;

    /// <summary>A database key named a node that is not an active silo.</summary>
    public const int NodeUnavailable = 4000;

    /// <summary>A database grain was placed on its node's silo.</summary>
    public const int DatabasePlaced = 4001;

    /// <summary>A database's continuous backup began: it goes on from the chain stored, or starts one with a snapshot.</summary>
    public const int BackupStarted = 5000;

    /// <summary>Storing in the backup target failed; shipping retries, and the lag grows meanwhile.</summary>
    public const int BackupFailed = 5001;

    /// <summary>The backup target answers again after failures; shipping goes on with no gap.</summary>
    public const int BackupResumed = 5002;

    /// <summary>The backup chain cannot go on from what was shipped (a count that did not match, changes dropped past
    /// <c>MaxPendingBytes</c>): a snapshot starts it again.</summary>
    public const int BackupChainBroken = 5003;

    /// <summary>A database whose file was missing was restored from its backup as it opened (<c>AutoRestore</c>).</summary>
    public const int BackupAutoRestored = 5004;

    /// <summary>A snapshot was stored, segments were merged, or objects past the retention were deleted.</summary>
    public const int BackupMaintained = 5005;

    /// <summary>A periodic snapshot could not be taken (the writer busy past AcquireTimeout, a file over 2 GiB...); it is
    /// tried again after a backoff. Logged once per streak of failures.</summary>
    public const int BackupSnapshotFailed = 5006;
}
