using Microsoft.Data.Sqlite;

namespace SqlitePool.Engine.Backup;

/// <summary>Where a restore stops: at a transaction id, at the last transaction committed at or before a time, or
/// (neither given) at the latest one stored.</summary>
public readonly record struct RestorePoint(long? Transaction = null, DateTimeOffset? Time = null)
{
    /// <summary>The latest transaction stored.</summary>
    public static RestorePoint Latest => default;

    /// <summary>True when everything up to <paramref name="transaction"/>, committed at <paramref name="committedAt"/>,
    /// belongs in the restore.</summary>
    public bool Admits(long transaction, DateTimeOffset committedAt) =>
        (Transaction is not { } last || transaction <= last) && (Time is not { } time || committedAt <= time);

    public override string ToString() =>
        Transaction is { } t ? $"transaction {t}" : Time is { } time ? $"{time:O}" : "the latest transaction";
}

/// <summary>What a restore wrote: the database as of <paramref name="Transaction"/>, committed at
/// <paramref name="CommittedAt"/>, read from <paramref name="ObjectsRead"/> stored objects.</summary>
public sealed record RestoredDatabase(long Transaction, DateTimeOffset CommittedAt, int ObjectsRead);

/// <summary>
/// Rebuilds a database from its backup: the latest snapshot at or before the point, then the segments after it in
/// transaction order (the coarsest that does not pass the point, then finer ones), into a file beside the target path
/// that takes the path's name only once SQLite's <c>integrity_check</c> passes.
/// </summary>
public static class BackupRestore
{
    /// <summary>Restores database <paramref name="database"/> (its name in the target, as its pool calls it) from
    /// <paramref name="target"/> as of <paramref name="point"/> into a new file at <paramref name="path"/>, with a lock
    /// file whose mark lets its transaction ids go on from the point.</summary>
    /// <returns>The transaction restored to, when it committed, and how many stored objects were read.</returns>
    /// <exception cref="SqlitePoolException">No snapshot precedes the point, the point is not a kept restore point, the
    /// target path exists, or the result fails its integrity check.</exception>
    /// <exception cref="InvalidDataException">A stored object is damaged.</exception>
    public static async Task<RestoredDatabase> RestoreAsync(IBackupTarget target, string database, RestorePoint point, string path, CancellationToken cancellationToken = default)
    {
        if (File.Exists(path) || File.Exists(path + "-wal") || File.Exists(path + "-shm"))
        {
            // A log left beside the path would be read back onto the restored file: nothing ties it to one database.
            throw new SqlitePoolException($"Cannot restore '{database}' into '{path}': the file, or a log or index of that name, exists.");
        }

        var keys = await target.ListAsync(database + "/", cancellationToken).ConfigureAwait(false);
        var (snapshots, segments) = BackupChain.Parse(database, keys);
        var snapshot = snapshots.LastOrDefault(s => point.Admits(s.LastTransaction, s.LastCommittedAt))
            ?? throw new SqlitePoolException($"The backup of '{database}' has no snapshot at or before {point} ({snapshots.Count} snapshots stored).");

        var temporary = $"{path}.{Guid.NewGuid():N}.restoring";
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        try
        {
            var (restored, stoppedAtPoint) = await WriteAsync(target, database, ObjectsToRead(snapshot, segments, point), point, temporary, cancellationToken).ConfigureAwait(false);
            if (point.Transaction is { } wanted && restored.Transaction != wanted)
            {
                throw new SqlitePoolException($"Transaction {wanted} of '{database}' is not a kept restore point: the nearest before it is {restored.Transaction}.");
            }

            if (point.Time is { } time && !stoppedAtPoint && snapshots.Concat(segments).Any(o => o.LastTransaction > restored.Transaction)
                && !(BackupChain.ParseGaps(database, keys).TryGetValue(restored.Transaction + 1, out var lostFrom) && time < lostFrom))
            {
                // The chain stops at a gap (commits that were never stored, then a snapshot restarted it): whether
                // the point falls before the first lost commit or after it cannot be known.
                throw new SqlitePoolException($"{time:O} of '{database}' falls in a gap of its backup: transactions after {restored.Transaction} (committed {restored.CommittedAt:O}) were not stored before the chain restarted.");
            }

            CheckIntegrity(temporary, database);

            // Its transaction ids go on from the point restored to (the pool's lock file carries them; see TransactionMark).
            TransactionMark.Carry(path + ".lock", restored.Transaction);

            File.Move(temporary, path, overwrite: false);
            return restored;
        }
        finally
        {
            File.Delete(temporary);
        }
    }

    /// <summary>Applies the records of <paramref name="objects"/> that the point admits to a new file.</summary>
    /// <returns>What was restored, and whether a record past the point ended it (rather than the chain's end).</returns>
    private static async Task<(RestoredDatabase Restored, bool StoppedAtPoint)> WriteAsync(IBackupTarget target, string database, IEnumerable<StoredObject> objects, RestorePoint point, string path, CancellationToken cancellationToken)
    {
        using var file = new FileStream(path, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None);
        var pageSize = 0;
        var reached = new RestoredDatabase(0, default, 0);
        foreach (var stored in objects)
        {
            var bytes = await target.GetAsync(stored.Key, cancellationToken).ConfigureAwait(false)
                ?? throw new SqlitePoolException($"The backup object '{stored.Key}' of '{database}' disappeared during the restore.");
            var (size, records) = BackupSegment.Decode(bytes);
            if (pageSize != 0 && size != pageSize)
            {
                throw new InvalidDataException($"'{stored.Key}' has pages of {size} bytes; the objects before it have {pageSize}.");
            }

            pageSize = size;
            reached = reached with { ObjectsRead = reached.ObjectsRead + 1 };
            foreach (var record in records)
            {
                if (!point.Admits(record.LastTransaction, record.CommittedAt))
                {
                    // The first record past the point ends the restore (commit times need not rise with ids).
                    file.Flush(flushToDisk: true);
                    return (reached, true);
                }

                if (reached.ObjectsRead > 1 && record.FirstTransaction != reached.Transaction + 1)
                {
                    throw new InvalidDataException($"'{stored.Key}' goes on from transaction {record.FirstTransaction}, not {reached.Transaction + 1}.");
                }

                record.ApplyTo(file, pageSize);
                reached = reached with { Transaction = record.LastTransaction, CommittedAt = record.CommittedAt };
            }
        }

        file.Flush(flushToDisk: true);
        return (reached, false);
    }

    /// <summary>The snapshot, then at each step the coarsest segment that continues the chain without passing the
    /// point, or, where every one passes it, the finest (whose records are applied up to the point).</summary>
    private static IEnumerable<StoredObject> ObjectsToRead(StoredObject snapshot, List<StoredObject> segments, RestorePoint point)
    {
        yield return snapshot;
        var next = snapshot.LastTransaction + 1;
        while (true)
        {
            var continuing = segments.Where(s => s.FirstTransaction == next).ToList();
            if (continuing.Count == 0 || (point.Transaction is { } last && next > last))
            {
                yield break;
            }

            var whole = continuing.Where(s => point.Admits(s.LastTransaction, s.LastCommittedAt)).MaxBy(s => s.LastTransaction);
            if (whole is null)
            {
                yield return continuing.MinBy(s => s.LastTransaction)!;
                yield break;
            }

            yield return whole;
            next = whole.LastTransaction + 1;
        }
    }

    private static void CheckIntegrity(string path, string database)
    {
        using (var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Pooling = false, Mode = SqliteOpenMode.ReadWrite }.ToString()))
        {
            connection.Open();
            using var command = connection.CreateCommand();
            command.CommandText = "PRAGMA integrity_check";
            if (command.ExecuteScalar() is not "ok" and var result)
            {
                throw new SqlitePoolException($"The restore of '{database}' failed its integrity check: {result}.");
            }
        }

        // Closing the only connection removed its log and index; the restored file is whole by itself.
        if (File.Exists(path + "-wal"))
        {
            throw new SqlitePoolException($"The restore of '{database}' left a log beside it.");
        }
    }
}
