using Microsoft.Data.Sqlite;
using SqlitePool.Engine;
using SqlitePool.Engine.Backup;
using SqlitePool.Tests.Engine;

namespace SqlitePool.Tests.Backup;

/// <summary>A snapshot of an open database, taken while it is written, restores to exactly the transaction it names.</summary>
public sealed class SnapshotTests : PoolTestBase
{
    [Fact]
    public async Task A_snapshot_restores_the_database_as_of_its_transaction_whatever_the_log_holds()
    {
        var target = new DirectoryBackupTarget(Directory.File("backup"));
        var pool = await OpenAsync();
        await pool.ExecuteAsync(new Statement("CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB)"), Ct);
        await pool.ExecuteAsync(new Statement("INSERT INTO t(v) SELECT randomblob(3000) FROM (WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 50) SELECT i FROM n)"), Ct);
        await pool.ExecuteAsync(new Statement("DELETE FROM t WHERE id % 3 = 0"), Ct);
        await pool.ExecuteAsync(new Statement("CREATE INDEX t_v ON t(length(v))"), Ct);

        // Everything still in the log; then after more writes; then after a checkpoint emptied the log.
        await AssertRestoresAsync(pool, target, "in-log.db");
        await pool.ExecuteAsync(new Statement("UPDATE t SET v = randomblob(10) WHERE id < 20"), Ct);
        await pool.ExecuteAsync(new Statement("VACUUM"), Ct);
        await pool.ExecuteAsync(new Statement("INSERT INTO t(v) VALUES (x'0102')"), Ct);
        await AssertRestoresAsync(pool, target, "more.db");
        await pool.GovernWalAsync();
        await pool.GovernWalAsync();
        Assert.Equal(0, pool.GetStatistics().WalFramesToCheckpoint);
        await AssertRestoresAsync(pool, target, "checkpointed.db");
    }

    [Fact]
    public async Task A_snapshot_taken_among_writes_holds_exactly_the_writes_up_to_its_transaction()
    {
        var target = new DirectoryBackupTarget(Directory.File("backup"));
        var pool = await OpenAsync();
        await pool.ExecuteAsync(new Statement("CREATE TABLE t(id INTEGER PRIMARY KEY, v)"), Ct);
        var committed = new System.Collections.Concurrent.ConcurrentBag<(long Id, long Transaction)>();
        var forty = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var stop = new CancellationTokenSource();
        var writers = Enumerable.Range(0, 4).Select(w => Task.Run(async () =>
        {
            for (var i = 0; !stop.IsCancellationRequested || i < 20; i++)
            {
                var result = await pool.ExecuteAsync(new Statement("INSERT INTO t(v) VALUES (?)", $"{w}-{i}"), Ct);
                committed.Add((result.LastInsertRowId, result.TransactionId));
                if (committed.Count >= 40)
                {
                    forty.TrySetResult();
                }
            }
        })).ToArray();

        await forty.Task;

        var snapshot = await pool.SnapshotToAsync(target, Ct);
        await stop.CancelAsync();
        await Task.WhenAll(writers);
        var after = await pool.ExecuteAsync(new Statement("INSERT INTO t(v) VALUES ('after')"), Ct);
        committed.Add((after.LastInsertRowId, after.TransactionId));

        var restored = await BackupRestore.RestoreAsync(target, pool.Database, new RestorePoint(Transaction: snapshot.TransactionId), Directory.File("among.db"), Ct);
        Assert.Equal(snapshot.TransactionId, restored.Transaction);
        var expected = committed.Where(c => c.Transaction <= snapshot.TransactionId).Select(c => c.Id).Order().ToList();
        Assert.True(expected.Count >= 40 && expected.Count < committed.Count, $"{expected.Count} of {committed.Count}");
        Assert.Equal(expected, Ids(Directory.File("among.db")));
    }

    private async Task AssertRestoresAsync(DatabasePool pool, DirectoryBackupTarget target, string name)
    {
        var snapshot = await pool.SnapshotToAsync(target, Ct);
        Assert.Equal(pool.TransactionId, snapshot.TransactionId);
        var restored = await BackupRestore.RestoreAsync(target, pool.Database, new RestorePoint(Transaction: snapshot.TransactionId), Directory.File(name), Ct);
        Assert.Equal(1, restored.ObjectsRead);
        var expected = await pool.QueryAsync(new Statement(Fingerprint), Ct);
        using var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = Directory.File(name), Pooling = false }.ToString());
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = Fingerprint;
        Assert.Equal(expected[0, 0], command.ExecuteScalar());
    }

    private const string Fingerprint = "SELECT count(*) || ':' || group_concat(id || '=' || hex(v), ',') || ':' || (SELECT group_concat(name, ',') FROM sqlite_schema) FROM t";

    private static List<long> Ids(string path) => ContinuousBackupTests.Ids(path);
}
