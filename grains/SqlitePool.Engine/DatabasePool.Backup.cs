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
        var writer = await AcquireConnectionAsync(LeaseKind.Writer, cancellationToken).ConfigureAwait(false);
        (byte[] Encoded, long Transaction, DateTimeOffset At) snapshot;
        try
        {
            snapshot = await writer.Worker.RunAsync(c => Capture(c.Handle!), cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            ReleaseConnection(writer, LeaseKind.Writer);
        }

        var key = BackupChain.SnapshotKey(Database, snapshot.Transaction, snapshot.At);
        await target.PutAsync(key, snapshot.Encoded, cancellationToken).ConfigureAwait(false);
        return new StoredSnapshot(key, snapshot.Transaction, snapshot.At, snapshot.Encoded.Length);
    }

    // On the writer: the database's pages after its last commit, encoded as a snapshot.
    private (byte[] Encoded, long Transaction, DateTimeOffset At) Capture(SQLitePCL.sqlite3 db)
    {
        using var image = new MemoryStream();
        image.Write(SqliteLogFile.ReadDatabase(db));
        var log = WalReader.Read(db, after: null);
        var pageSize = log.Header?.PageSize ?? PageSizeOf(image.GetBuffer());
        foreach (var transaction in log.Transactions)
        {
            BackupRecord.Of(0, default, transaction).ApplyTo(image, pageSize);
        }

        var bytes = image.GetBuffer().AsMemory(0, (int)image.Length);
        var transactionId = _wal.Transactions;
        var at = _wal.LastCommitAt ?? _time.GetUtcNow();
        return (BackupSegment.Encode(pageSize, [BackupRecord.Snapshot(bytes, pageSize, transactionId, at)]), transactionId, at);
    }

    // The page size in a database file's header (bytes 16-17, big-endian; 1 means 65,536).
    private static int PageSizeOf(byte[] file)
    {
        if (file.Length < 100)
        {
            throw new IOException("The database file has no header.");
        }

        var size = (file[16] << 8) | file[17];
        return size == 1 ? 65536 : size;
    }
}
