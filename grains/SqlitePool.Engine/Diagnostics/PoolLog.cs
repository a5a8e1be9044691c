using Microsoft.Extensions.Logging;

namespace SqlitePool.Diagnostics;

/// <summary>The pool engine's log messages (event ids in <see cref="SqlitePoolEventIds"/>).</summary>
internal static partial class PoolLog
{
    [LoggerMessage(EventId = SqlitePoolEventIds.LeaseExpired, Level = LogLevel.Warning, Message = "Lease {LeaseId} ({Kind}) on {Database} held by {Holder} {Expiry}; its transaction was rolled back")]
    public static partial void LeaseExpired(ILogger logger, LeaseId leaseId, LeaseKind kind, string database, LeaseHolder holder, string expiry);

    [LoggerMessage(EventId = SqlitePoolEventIds.AcquireTimedOut, Level = LogLevel.Warning, Message = "A {Kind} request on {Database} waited longer than {Timeout} and timed out")]
    public static partial void AcquireTimedOut(ILogger logger, LeaseKind kind, string database, TimeSpan timeout);

    [LoggerMessage(EventId = SqlitePoolEventIds.SnapshotEnded, Level = LogLevel.Warning, Message = "Ended {Holder} on {Database}: it held a read snapshot longer than {Limit} while the write-ahead log was over its limit")]
    public static partial void SnapshotEnded(ILogger logger, string database, string holder, TimeSpan limit);

    [LoggerMessage(EventId = SqlitePoolEventIds.Checkpointed, Level = LogLevel.Debug, Message = "Checkpoint on {Database}: {Outcome}")]
    public static partial void Checkpointed(ILogger logger, string database, string outcome);

    [LoggerMessage(EventId = SqlitePoolEventIds.StatementTimedOut, Level = LogLevel.Warning, Message = "A statement on {Database} ran longer than {Timeout} and was interrupted")]
    public static partial void StatementTimedOut(ILogger logger, string database, TimeSpan timeout);

    [LoggerMessage(EventId = SqlitePoolEventIds.CloseTimedOut, Level = LogLevel.Warning, Message = "Closing {Database} took longer than {Timeout}: statements still to run were stopped and {Abandoned} connection(s) held by silo-local leases were revoked; the lock file is released once the writer has closed")]
    public static partial void CloseTimedOut(ILogger logger, string database, TimeSpan timeout, int abandoned);

    [LoggerMessage(EventId = SqlitePoolEventIds.ClosedIdle, Level = LogLevel.Debug, Message = "{Database} was not used for {IdleTimeout} and closes; the next call opens it again")]
    public static partial void ClosedIdle(ILogger logger, string database, TimeSpan idleTimeout);

    [LoggerMessage(EventId = SqlitePoolEventIds.TransactionIdsJumped, Level = LogLevel.Warning, Message = "{Database} opened without an exact count of its transactions (its lock file held no mark for a database with content, the log started over more than once since the mark, the marked frame is gone, or SQL replaced the pool's WAL hook); its transaction ids go on from {TransactionId} so that none repeats")]
    public static partial void TransactionIdsJumped(ILogger logger, string database, long transactionId);

    [LoggerMessage(EventId = SqlitePoolEventIds.CheckpointSkipped, Level = LogLevel.Warning, Message = "No checkpoint on {Database}: its transaction mark could not be written to the lock file ({Failures} times so far); the log grows until one can")]
    public static partial void CheckpointSkipped(ILogger logger, string database, long failures);

    [LoggerMessage(EventId = SqlitePoolEventIds.ShutdownProgress, Level = LogLevel.Information, Message = "Stopping: {Closed} of {Total} databases closed in {Elapsed}")]
    public static partial void ShutdownProgress(ILogger logger, int closed, int total, TimeSpan elapsed);

    [LoggerMessage(EventId = SqlitePoolEventIds.CloseFailed, Level = LogLevel.Error, Message = "Closing {Database} failed part of the way; its writer closes and its lock file is released all the same")]
    public static partial void CloseFailed(ILogger logger, Exception exception, string database);
}
