using SqlitePool.Diagnostics;
using SqlitePool.Engine.Backup;

namespace SqlitePool.Engine;

public sealed partial class DatabasePool
{
    /// <summary>What the open restored from the backup because the file was missing (<see cref="BackupOptions.AutoRestore"/>), or null.</summary>
    public RestoredDatabase? AutoRestored { get; init; }

    /// <summary>True when writes are answered only once their commit is stored (<see cref="BackupOptions.AckAfterBackup"/>).</summary>
    internal bool AcksAfterBackup => _backup?.AckAfterBackup == true;

    /// <summary>The continuous backup's state, or null when the database has none.</summary>
    internal BackupStatistics? BackupState => _backup?.GetStatistics();

    /// <summary>Ships every commit made so far to the backup target now and waits until it is stored.</summary>
    /// <exception cref="InvalidOperationException">The database has no continuous backup.</exception>
    /// <exception cref="BackupNotStoredException">It was not stored within <paramref name="limit"/>.</exception>
    public Task FlushBackupAsync(TimeSpan limit) =>
        (_backup ?? throw new InvalidOperationException($"'{Database}' has no continuous backup.")).FlushAsync(limit);

    /// <summary>Runs the continuous backup's maintenance due now (a snapshot, merges, retention) at once.</summary>
    public Task MaintainBackupAsync() => _backup?.MaintainNowAsync() ?? Task.CompletedTask;

    /// <summary>Completes once <paramref name="transaction"/> is stored (at once without a continuous backup).</summary>
    internal Task WaitStoredAsync(long transaction) => _backup?.WaitStoredAsync(transaction) ?? Task.CompletedTask;

    // With AckAfterBackup: the writes that succeeded are answered once the last of them is stored, or all fail.
    private async Task<ExecuteOutcome[]> AckedAsync(ExecuteOutcome[] outcomes)
    {
        var last = outcomes.Where(o => o.Result is not null).Select(o => o.Result!.TransactionId).DefaultIfEmpty(0).Max();
        try
        {
            await _backup!.WaitStoredAsync(last).ConfigureAwait(false);
            return outcomes;
        }
        catch (BackupNotStoredException ex)
        {
            return [.. outcomes.Select(o => o.Result is null ? o : new ExecuteOutcome(null, ex))];
        }
    }

    // The shipper's snapshots: on the writer, a chain that restarts goes past every id stored (none may name two
    // states), and the shipper learns the capture's place in the log before anything else commits.
    private Task<SnapshotImage?> TakeBackupSnapshotAsync(bool restart, CancellationToken cancellationToken) =>
        TakeSnapshotAsync(db =>
        {
            if (restart && _backup!.StoredFloor > 0 && _wal.Transactions <= _backup.StoredFloor)
            {
                _wal.Skip(_backup.StoredFloor + 1 - _wal.Transactions);
                if (!_wal.TryMark(db, durable: true))
                {
                    throw new IOException("The transaction mark could not be written to the lock file.");
                }
            }

            return (transaction, logEnd, pageSize) => _backup!.Rebase(transaction, logEnd, pageSize, restart);
        }, cancellationToken);

    // Before the lock file is taken: what the target holds under the name (null when it cannot be listed now: the
    // shipper lists it later); and with AutoRestore, a database whose file (and log) is missing is restored from the
    // latest stored position first, when anything is stored.
    private static async Task<(RestoredDatabase? Restored, IReadOnlyList<string>? Stored)> OpenBackupAsync(string database, string path, BackupOptions backup)
    {
        IReadOnlyList<string> stored;
        var missing = !File.Exists(path) && !File.Exists(path + "-wal");
        try
        {
            stored = await backup.Target!.ListAsync(database + "/").ConfigureAwait(false);
        }
        catch (Exception) when (!(backup.AutoRestore && missing))
        {
            // Only a restore needs the target now; the shipper lists it again later.
            return (null, null);
        }

        if (!backup.AutoRestore || !missing || BackupChain.Parse(database, stored).Snapshots.Count == 0)
        {
            return (null, stored);
        }

        return (await BackupRestore.RestoreAsync(backup.Target!, database, RestorePoint.Latest, path).ConfigureAwait(false), stored);
    }
}
