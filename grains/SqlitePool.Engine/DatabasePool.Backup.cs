using SqlitePool.Engine.Backup;

namespace SqlitePool.Engine;

/// <summary>A snapshot stored in a backup target: its key, the transaction it holds the database after, when that
/// committed, and its size.</summary>
public sealed record StoredSnapshot(string Key, long TransactionId, DateTimeOffset CommittedAt, long Bytes);

public sealed partial class DatabasePool
{
    /// <summary>
    /// Stores the database, as of its latest transaction, in <paramref name="target"/> as a snapshot from which
    /// <c>BackupRestore</c> rebuilds it page for page. Taken on the writer, in turn with writes (none commits while it
    /// is read, so it is exactly one transaction's state): the file as checkpoints left it, with the log's committed
    /// transactions applied, both read through SQLite's own handles. The writer goes back before the upload.
    /// </summary>
    /// <exception cref="DatabaseTimeoutException">The writer was not free within <see cref="Hosting.DatabaseOptions.AcquireTimeout"/>.</exception>
    /// <exception cref="DatabaseClosedException">The pool is closed.</exception>
    /// <exception cref="IOException">SQLite could not read its files.</exception>
    public async Task<StoredSnapshot> SnapshotToAsync(IBackupTarget target, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(target);
        var image = (await TakeSnapshotAsync(onWriter: null, cancellationToken).ConfigureAwait(false))!;
        var key = BackupChain.SnapshotKey(Database, image.Transaction, image.CommittedAt);
        await target.PutAsync(key, image.Encoded, cancellationToken).ConfigureAwait(false);
        return new StoredSnapshot(key, image.Transaction, image.CommittedAt, image.Encoded.Length);
    }

    /// <summary>A snapshot at the latest transaction, encoded as it is stored. <paramref name="onWriter"/> runs on the
    /// writer first (nothing commits until the capture is done), then gets the capture: its transaction, the log's end
    /// and page size.</summary>
    private async Task<SnapshotImage?> TakeSnapshotAsync(Func<SQLitePCL.sqlite3, Action<long, WalPosition?, int>>? onWriter, CancellationToken cancellationToken)
    {
        var writer = await AcquireConnectionAsync(LeaseKind.Writer, cancellationToken).ConfigureAwait(false);
        Captured captured;
        try
        {
            // Not cancelled once it has the writer (reading files is not interruptible, and an interrupt with no
            // statement running would stay set for the writer's next checkpoint); the upload is.
            captured = await writer.Worker.RunAsync(c =>
            {
                var then = onWriter?.Invoke(c.Handle!);
                var capture = Capture(c.Handle!);
                then?.Invoke(capture.Transaction, capture.Log.Transactions.Count > 0 ? capture.Log.Transactions[^1].End : capture.Log.Header?.Start, capture.PageSize);
                return capture;
            }, CancellationToken.None).ConfigureAwait(false);
        }
        finally
        {
            ReleaseConnection(writer, LeaseKind.Writer);
        }

        // Rebuilt and encoded with the writer back: only the reads were in turn with the writes.
        using var image = new MemoryStream(captured.File.Length);
        image.Write(captured.File);
        foreach (var transaction in captured.Log.Transactions)
        {
            BackupRecord.Of(0, default, transaction).ApplyTo(image, captured.PageSize);
        }

        var pages = image.GetBuffer().AsMemory(0, (int)image.Length);
        var encoded = BackupSegment.Encode(captured.PageSize, [BackupRecord.Snapshot(pages, captured.PageSize, captured.Transaction, captured.At)]);
        return new SnapshotImage(encoded, captured.Transaction, captured.At);
    }

    // On the writer, with nothing committing: the file as checkpoints left it, the log's committed transactions, and the
    // transaction they end at.
    private Captured Capture(SQLitePCL.sqlite3 db)
    {
        var file = SqliteLogFile.ReadDatabase(db);
        var log = WalReader.Read(db, after: null);
        return new(file, log, log.Header?.PageSize ?? PageSizeOf(file), _wal.Transactions, _wal.LastCommitAt ?? _time.GetUtcNow());
    }

    // The page size in a database file's header (bytes 16-17, big-endian; 1 means 65,536); SQLite's default for a file
    // nothing was written to yet.
    private static int PageSizeOf(byte[] file)
    {
        if (file.Length == 0)
        {
            return 4096;
        }

        if (file.Length < 100)
        {
            throw new IOException("The database file has no header.");
        }

        var size = (file[16] << 8) | file[17];
        return size == 1 ? 65536 : size;
    }

    private sealed record Captured(byte[] File, WalRead Log, int PageSize, long Transaction, DateTimeOffset At);
}
