using SqlitePool.Engine.Backup;
using SqlitePool.Tests.Process;
using SqlitePool.Tests.Support;

namespace SqlitePool.Tests.Backup;

/// <summary>Azure Blob Storage as a backup target, against a real Azurite process (tests/run.sh installs it).</summary>
public sealed class AzureBlobBackupTargetTests : BackupTargetContract, IAsyncLifetime
{
    private readonly TempDirectory _directory = new();
    private ServerProcess? _azurite;
    private int _port;

    public async ValueTask InitializeAsync()
    {
        if (!ServerProcess.AzuriteInstalled)
        {
            return;
        }

        _port = ServerProcess.FreePort();
        _azurite = await ServerProcess.StartAzuriteAsync(_directory.Path, _port);
    }

    [Fact]
    public async Task A_database_restores_from_segments_stored_in_blobs()
    {
        var target = await TargetAsync();
        var source = _directory.File("source.db");
        using (var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={source};Pooling=False"))
        {
            connection.Open();
            using var command = connection.CreateCommand();
            command.CommandText = "PRAGMA journal_mode = WAL; PRAGMA wal_autocheckpoint = 0; CREATE TABLE t(v); PRAGMA wal_checkpoint(TRUNCATE);";
            command.ExecuteNonQuery();
            var start = await File.ReadAllBytesAsync(source, Ct);
            command.CommandText = "INSERT INTO t VALUES (randomblob(5000)); INSERT INTO t VALUES ('x');";
            command.ExecuteNonQuery();
            var read = WalReader.Read(connection.Handle!, after: null);
            var pageSize = read.Header!.Value.PageSize;
            var at = DateTimeOffset.UnixEpoch.AddDays(1);
            await target.PutAsync(BackupChain.SnapshotKey("db", 0, at), BackupSegment.Encode(pageSize, [BackupRecord.Snapshot(start, pageSize, 0, at)]), Ct);
            var records = read.Transactions.Select((t, i) => BackupRecord.Of(i + 1, at.AddSeconds(i + 1), t)).ToList();
            await target.PutAsync(BackupChain.SegmentKey("db", records[0], records[^1]), BackupSegment.Encode(pageSize, records), Ct);
        }

        var restored = await BackupRestore.RestoreAsync(target, "db", RestorePoint.Latest, _directory.File("restored.db"), Ct);
        Assert.Equal((2, 2), (restored.Transaction, restored.ObjectsRead));
        using var check = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={_directory.File("restored.db")};Pooling=False");
        check.Open();
        using var count = check.CreateCommand();
        count.CommandText = "SELECT group_concat(typeof(v)) FROM t";
        Assert.Equal("blob,text", count.ExecuteScalar());
    }

    public async ValueTask DisposeAsync()
    {
        if (_azurite is not null)
        {
            await _azurite.DisposeAsync();
        }

        _directory.Dispose();
    }

    protected override Task<IBackupTarget> TargetAsync()
    {
        if (_azurite is null)
        {
            Assert.Skip("Azurite is not installed; tests/run.sh installs it into tests/azurite.");
        }

        return Task.FromResult<IBackupTarget>(new AzureBlobBackupTarget(ServerProcess.AzuriteConnectionString(_port), $"backup-{Guid.NewGuid():N}"));
    }
}
