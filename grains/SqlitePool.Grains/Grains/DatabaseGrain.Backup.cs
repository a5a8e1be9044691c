using System.Runtime.CompilerServices;
using SqlitePool.Engine;
using SqlitePool.Engine.Backup;

namespace SqlitePool.Grains;

/// <summary>Backups and restores: the destination's grain pulls a snapshot of the source through
/// <see cref="ExportAsync"/>, so a copy to this node or another travels the same way.</summary>
internal sealed partial class DatabaseGrain
{
    private const int ExportChunkBytes = 1 << 20;

    public Task<BackupResult> BackupAsync(DatabaseId destination, CancellationToken cancellationToken = default)
    {
        var self = DatabaseId.FromGrainKey(this.GetPrimaryKeyString());
        return destination == self
            ? Task.FromException<BackupResult>(new DatabaseExistsException(destination.GrainKey))
            : GrainFactory.GetGrain<IDatabaseGrain>(destination.GrainKey).RestoreFromAsync(self, cancellationToken);
    }

    public async IAsyncEnumerable<byte[]> ExportAsync([EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        if (_pool is null && _opening is null && !File.Exists(Locate().Path))
        {
            // Opening would create it: a copy of nothing is an error, not an empty database.
            throw new DatabaseNotFoundException(this.GetPrimaryKeyString());
        }

        var pool = await GetPoolAsync();
        var snapshot = await DatabaseSnapshot.TakeAsync(pool.Path, pool.Database, cancellationToken);
        try
        {
            await using var file = new FileStream(snapshot, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.Asynchronous | FileOptions.SequentialScan);
            var buffer = new byte[ExportChunkBytes];
            int read;
            while ((read = await file.ReadAtLeastAsync(buffer, buffer.Length, throwOnEndOfStream: false, cancellationToken)) > 0)
            {
                yield return buffer[..read];
            }
        }
        finally
        {
            File.Delete(snapshot);
        }
    }

    public async Task<BackupResult> RestoreFromAsync(DatabaseId source, CancellationToken cancellationToken = default)
    {
        var key = this.GetPrimaryKeyString();
        var (_, target) = Locate();
        // A log left beside the name (its database removed by hand) would be read back onto the copy.
        if (_pool is not null || _opening is not null || File.Exists(target) || File.Exists(target + "-wal") || File.Exists(target + "-shm"))
        {
            throw new DatabaseExistsException(key);
        }

        // Calls that arrive meanwhile wait for the copy, then open it like any database.
        var copy = CopyFromAsync(source, target, cancellationToken);
        _opening = OpenAfterAsync(copy);
        await _opening;
        return new BackupResult(source.GrainKey, key, await copy);
    }

    public async Task<BackupRestoreResult> RestoreFromBackupAsync(DatabaseId source, BackupPoint point, CancellationToken cancellationToken = default)
    {
        var key = this.GetPrimaryKeyString();
        var (_, target) = Locate();
        if (_pool is not null || _opening is not null || File.Exists(target) || File.Exists(target + "-wal") || File.Exists(target + "-shm"))
        {
            throw new DatabaseExistsException(key);
        }

        var stored = options.Value.ResolveFor(source.Path).Backup?.Target
            ?? throw new SqlitePoolException($"No continuous backup target is configured for '{source.Path}' on this node (AddContinuousBackup, or SqlitePool:Backup).");

        // Off the grain's turn: downloads, file writes and the integrity check. Calls that arrive meanwhile wait, then
        // open the restored database.
        var restore = Task.Run(() => BackupRestore.RestoreAsync(stored, source.GrainKey, new RestorePoint(point.TransactionId, point.Time), target, cancellationToken), cancellationToken);
        _opening = OpenAfterAsync(restore);
        await _opening;
        var restored = await restore;
        return new BackupRestoreResult(source.GrainKey, key, restored.Transaction, restored.CommittedAt, restored.ObjectsRead, new FileInfo(target).Length);
    }

    private async Task<DatabasePool> OpenAfterAsync(Task copy)
    {
        try
        {
            await copy;
        }
        catch
        {
            _opening = null;
            throw;
        }

        return await OpenAsync();
    }

    private async Task<long> CopyFromAsync(DatabaseId source, string target, CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(target)!);
        var received = $"{target}.restore-{Guid.NewGuid():N}";
        long bytes = 0;
        try
        {
            await using (var file = new FileStream(received, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1, FileOptions.Asynchronous))
            {
                await foreach (var chunk in GrainFactory.GetGrain<IDatabaseGrain>(source.GrainKey).ExportAsync(cancellationToken).WithCancellation(cancellationToken))
                {
                    await file.WriteAsync(chunk, cancellationToken);
                    bytes += chunk.Length;
                }

                // Durable before it takes the database's name; the sync runs off the grain's turn.
                await Task.Run(() => file.Flush(flushToDisk: true), cancellationToken);
            }

            await DatabaseSnapshot.CheckAsync(received, this.GetPrimaryKeyString(), cancellationToken);
            // A copy is a new database: its transaction ids start from none (kept further on by a mark already there),
            // rather than jump as for a database whose lock file was lost.
            await Task.Run(() => SqlitePool.Engine.Backup.TransactionMark.Carry(target + ".lock", 0), cancellationToken);
            File.Move(received, target, overwrite: false);
            return bytes;
        }
        catch (IOException) when (File.Exists(target))
        {
            File.Delete(received);
            throw new DatabaseExistsException(this.GetPrimaryKeyString());
        }
        catch
        {
            File.Delete(received);
            throw;
        }
    }
}
