using Microsoft.Extensions.Logging;

namespace SqlitePool.Diagnostics;

/// <summary>The continuous backup's log messages (event ids 5000-5006 in <see cref="SqlitePoolEventIds"/>).</summary>
internal static partial class BackupLog
{
    [LoggerMessage(EventId = SqlitePoolEventIds.BackupStarted, Level = LogLevel.Information, Message = "Continuous backup of {Database}: {How}")]
    public static partial void Started(ILogger logger, string database, string how);

    [LoggerMessage(EventId = SqlitePoolEventIds.BackupFailed, Level = LogLevel.Warning, Message = "Continuous backup of {Database} failed to store ({Pending} bytes waiting); retrying")]
    public static partial void Failed(ILogger logger, Exception exception, string database, long pending);

    [LoggerMessage(EventId = SqlitePoolEventIds.BackupSnapshotFailed, Level = LogLevel.Warning, Message = "Continuous backup of {Database} could not take its periodic snapshot; it tries again later")]
    public static partial void SnapshotFailed(ILogger logger, Exception exception, string database);

    [LoggerMessage(EventId = SqlitePoolEventIds.BackupResumed, Level = LogLevel.Information, Message = "Continuous backup of {Database} resumed after failing for {Duration}")]
    public static partial void Resumed(ILogger logger, string database, TimeSpan duration);

    [LoggerMessage(EventId = SqlitePoolEventIds.BackupChainBroken, Level = LogLevel.Warning, Message = "Continuous backup of {Database} restarts its chain with a snapshot: {Reason}")]
    public static partial void ChainBroken(ILogger logger, string database, string reason);

    [LoggerMessage(EventId = SqlitePoolEventIds.BackupAutoRestored, Level = LogLevel.Warning, Message = "{Database} was missing and was restored from its backup to transaction {TransactionId} (committed {CommittedAt:O}), reading {Objects} objects")]
    public static partial void AutoRestored(ILogger logger, string database, long transactionId, DateTimeOffset committedAt, int objects);

    [LoggerMessage(EventId = SqlitePoolEventIds.BackupMaintained, Level = LogLevel.Debug, Message = "Continuous backup of {Database}: {What}")]
    public static partial void Maintained(ILogger logger, string database, string what);
}
