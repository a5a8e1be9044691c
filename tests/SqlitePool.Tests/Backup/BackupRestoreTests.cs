using Microsoft.Data.Sqlite;
using SqlitePool.Engine.Backup;
using SqlitePool.Tests.Support;

namespace SqlitePool.Tests.Backup;

/// <summary>
/// A database rebuilt from a snapshot and segments in a directory target equals the source as it was at the
/// transaction or time asked for; compacted ranges restore to their end only, and damaged objects are refused.
/// </summary>
public sealed class BackupRestoreTests : IDisposable
{
    private const string Database = "tenants/t1.db";
    private static readonly DateTimeOffset Start = new(2026, 12, 1, 0, 0, 0, TimeSpan.Zero);
    private readonly TempDirectory _directory = new();
    private readonly DirectoryBackupTarget _target;
    private readonly List<string> _states = [];
    private readonly List<BackupRecord> _records = [];
    private int _pageSize;

    public BackupRestoreTests()
    {
        _target = new DirectoryBackupTarget(_directory.File("backup"));
        Record(transactions: 8);
    }

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Every_transaction_and_every_moment_between_commits_restores_exactly()
    {
        await PutSnapshotAsync(0);
        foreach (var record in _records)
        {
            await PutAsync(record);
        }

        for (var t = 0; t <= _records.Count; t++)
        {
            var restored = await RestoreAsync(new RestorePoint(Transaction: t), $"at-{t}.db");
            Assert.Equal(t, restored.Transaction);
            using (var lockFile = File.OpenRead(_directory.File($"at-{t}.db.lock")))
            {
                Assert.Equal(new TransactionMark(t, default, Foreign: true), TransactionMark.Read(lockFile));
            }

            Assert.Equal(1 + t, restored.ObjectsRead);
            Assert.Equal(_states[t], Fingerprint($"at-{t}.db"));

            var byTime = await RestoreAsync(new RestorePoint(Time: CommitTime(t).AddMilliseconds(500)), $"time-{t}.db");
            Assert.Equal(t, byTime.Transaction);
            Assert.Equal(_states[t], Fingerprint($"time-{t}.db"));
        }

        var latest = await RestoreAsync(RestorePoint.Latest, "latest.db");
        Assert.Equal(_records.Count, latest.Transaction);
        Assert.Equal(CommitTime(_records.Count), latest.CommittedAt);
    }

    [Fact]
    public async Task A_compacted_range_restores_to_its_end_in_few_reads_and_not_to_points_inside()
    {
        await PutSnapshotAsync(0);
        await PutAsync(_records[0]);
        await _target.PutAsync(BackupChain.SegmentKey(Database, _records[1], _records[6]),
            BackupSegment.Encode(_pageSize, [BackupRecord.Compact(_records[1..7])]), Ct);
        await PutAsync(_records[7]);

        var end = await RestoreAsync(new RestorePoint(Transaction: 7), "end.db");
        Assert.Equal(3, end.ObjectsRead);
        Assert.Equal(_states[7], Fingerprint("end.db"));
        var latest = await RestoreAsync(RestorePoint.Latest, "latest.db");
        Assert.Equal((8, 4), (latest.Transaction, latest.ObjectsRead));
        Assert.Equal(_states[8], Fingerprint("latest.db"));

        var inside = await Assert.ThrowsAsync<SqlitePoolException>(() => RestoreAsync(new RestorePoint(Transaction: 4), "inside.db"));
        Assert.Contains("not a kept restore point", inside.Message);
        Assert.False(File.Exists(_directory.File("inside.db")));
    }

    [Fact]
    public async Task A_later_snapshot_shortens_the_restore()
    {
        await PutSnapshotAsync(0);
        foreach (var record in _records)
        {
            await PutAsync(record);
        }

        await PutSnapshotAsync(6);
        var restored = await RestoreAsync(new RestorePoint(Transaction: 8), "t8.db");
        Assert.Equal(3, restored.ObjectsRead);
        Assert.Equal(_states[8], Fingerprint("t8.db"));
    }

    [Fact]
    public async Task A_damaged_object_or_a_point_before_every_snapshot_is_refused_and_leaves_no_file()
    {
        await PutSnapshotAsync(2);
        await PutAsync(_records[2]);
        var before = await Assert.ThrowsAsync<SqlitePoolException>(() => RestoreAsync(new RestorePoint(Transaction: 1), "before.db"));
        Assert.Contains("no snapshot", before.Message);

        var segment = Directory.EnumerateFiles(_directory.File("backup"), "*", SearchOption.AllDirectories).Single(f => f.Contains("segments"));
        var bytes = await File.ReadAllBytesAsync(segment, Ct);
        bytes[bytes.Length / 2] ^= 0xFF;
        await File.WriteAllBytesAsync(segment, bytes, Ct);
        await Assert.ThrowsAsync<InvalidDataException>(() => RestoreAsync(RestorePoint.Latest, "damaged.db"));
        Assert.Empty(Directory.EnumerateFiles(_directory.Path, "damaged.db*"));
    }

    [Fact]
    public async Task A_restore_by_time_stops_at_the_first_commit_after_it_even_when_a_later_one_is_stamped_earlier()
    {
        // The clock stepped back: transaction 2 is stamped after 3 and 4.
        await PutSnapshotAsync(0);
        var late = _records[1] with { CommittedAt = CommitTime(10) };
        await _target.PutAsync(BackupChain.SegmentKey(Database, _records[0], _records[2]), BackupSegment.Encode(_pageSize, [_records[0], late, _records[2]]), Ct);
        await _target.PutAsync(BackupChain.SegmentKey(Database, _records[3], _records[7]), BackupSegment.Encode(_pageSize, [.. _records[3..8]]), Ct);

        var restored = await RestoreAsync(new RestorePoint(Time: CommitTime(5).AddMilliseconds(500)), "stepped.db");

        Assert.Equal(1, restored.Transaction);
        Assert.Equal(_states[1], Fingerprint("stepped.db"));
    }

    [Fact]
    public async Task A_log_left_beside_the_target_path_is_refused()
    {
        await PutSnapshotAsync(0);
        await File.WriteAllBytesAsync(_directory.File("stale.db-wal"), [1, 2, 3], Ct);
        var refused = await Assert.ThrowsAsync<SqlitePoolException>(() => RestoreAsync(RestorePoint.Latest, "stale.db"));
        Assert.Contains("exists", refused.Message);
        Assert.False(File.Exists(_directory.File("stale.db")));
    }

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        _directory.Dispose();
    }

    private static DateTimeOffset CommitTime(int transaction) => Start.AddSeconds(transaction);

    private Task<RestoredDatabase> RestoreAsync(RestorePoint point, string name) =>
        BackupRestore.RestoreAsync(_target, Database, point, _directory.File(name), Ct);

    private Task PutAsync(BackupRecord record) =>
        _target.PutAsync(BackupChain.SegmentKey(Database, record, record), BackupSegment.Encode(_pageSize, [record]), Ct);

    // The source's file as of transaction t: the start, with the first t transactions applied.
    private async Task PutSnapshotAsync(int transaction)
    {
        var path = _directory.File($"snapshot-{transaction}.db");
        File.Copy(_directory.File("start.db"), path);
        using (var file = new FileStream(path, FileMode.Open))
        {
            _records.Take(transaction).ToList().ForEach(r => r.ApplyTo(file, _pageSize));
        }

        var snapshot = BackupRecord.Snapshot(await File.ReadAllBytesAsync(path, Ct), _pageSize, transaction, CommitTime(transaction));
        await _target.PutAsync(BackupChain.SnapshotKey(Database, transaction, CommitTime(transaction)), BackupSegment.Encode(_pageSize, [snapshot]), Ct);
    }

    // Runs transactions on a source in WAL mode and keeps each one's record (read from the log) and the state after it.
    private void Record(int transactions)
    {
        var path = _directory.File("source.db");
        using var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Pooling = false }.ToString());
        connection.Open();
        Exec(connection, "PRAGMA journal_mode = WAL; PRAGMA wal_autocheckpoint = 0; CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB)");
        Exec(connection, "PRAGMA wal_checkpoint(TRUNCATE)");
        File.Copy(path, _directory.File("start.db"));
        _states.Add(Fingerprint(connection));
        for (var i = 1; i <= transactions; i++)
        {
            Exec(connection, i switch
            {
                3 => "CREATE INDEX t_v ON t(length(v))",
                5 => "DELETE FROM t WHERE id % 2 = 0",
                6 => "VACUUM",
                _ => $"INSERT INTO t(v) VALUES (randomblob({i * 1500}))",
            });
            _states.Add(Fingerprint(connection));
        }

        var read = WalReader.Read(path + "-wal", after: null);
        Assert.Equal(transactions, read.Transactions.Count);
        _pageSize = read.Header!.Value.PageSize;
        _records.AddRange(read.Transactions.Select((t, i) => BackupRecord.Of(i + 1, CommitTime(i + 1), t)));
    }

    private string Fingerprint(string name)
    {
        using var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = _directory.File(name), Pooling = false }.ToString());
        connection.Open();
        return Fingerprint(connection);
    }

    private static string Fingerprint(SqliteConnection connection)
    {
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT count(*) || ':' || coalesce(group_concat(id || '=' || hex(v), ','), '') || ':' || "
            + "(SELECT group_concat(name, ',') FROM sqlite_schema) FROM t";
        return (string)command.ExecuteScalar()!;
    }

    private static void Exec(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }
}
