using Microsoft.Data.Sqlite;
using SqlitePool.Engine.Backup;
using SqlitePool.Tests.Support;

namespace SqlitePool.Tests.Backup;

/// <summary>
/// Committed transactions read from a live log rebuild the database as it was after each of them; a torn tail and the
/// frames of an earlier generation are never read as committed.
/// </summary>
public sealed class WalReaderTests : IDisposable
{
    private readonly TempDirectory _directory = new();

    [Fact]
    public void Transactions_read_from_the_log_rebuild_the_database_at_every_commit()
    {
        var (connection, start) = OpenCheckpointed();
        using (connection)
        {
            var states = new List<string> { Fingerprint(connection) };
            foreach (var sql in Workload)
            {
                Exec(connection, sql);
                states.Add(Fingerprint(connection));
            }

            var read = WalReader.Read(connection.DataSource + "-wal", after: null);

            Assert.Equal(Workload.Length, read.Transactions.Count);
            for (var k = 0; k <= read.Transactions.Count; k++)
            {
                var copy = _directory.File($"restored-{k}.db");
                File.Copy(start, copy);
                using (var file = new FileStream(copy, FileMode.Open, FileAccess.ReadWrite))
                {
                    foreach (var transaction in read.Transactions.Take(k))
                    {
                        BackupRecord.Of(0, DateTimeOffset.UnixEpoch, transaction).ApplyTo(file, transaction.PageSize);
                    }
                }

                using var restored = Open(copy);
                Assert.Equal("ok", Scalar(restored, "PRAGMA integrity_check"));
                Assert.Equal(states[k], Fingerprint(restored));
            }

            // SQLite's own checkpoint of the same log writes the same file, byte for byte (compared once it is closed).
            Exec(connection, "PRAGMA wal_checkpoint(TRUNCATE)");
        }

        Assert.Equal(File.ReadAllBytes(_directory.File("source.db")), File.ReadAllBytes(_directory.File($"restored-{Workload.Length}.db")));
    }

    [Fact]
    public void A_read_goes_on_from_its_position_and_stops_before_a_torn_commit()
    {
        var (connection, _) = OpenCheckpointed();
        using (connection)
        {
            Exec(connection, "INSERT INTO t(v) VALUES (randomblob(3000))");
            var first = WalReader.Read(connection.DataSource + "-wal", after: null);
            Exec(connection, "INSERT INTO t(v) VALUES (randomblob(100))");
            Exec(connection, "BEGIN; INSERT INTO t(v) SELECT randomblob(5000) FROM t; COMMIT");

            var next = WalReader.Read(connection.DataSource + "-wal", first.Transactions[^1].End);
            Assert.False(next.GenerationChanged);
            Assert.Equal(2, next.Transactions.Count);
            Assert.Equal(first.Transactions[^1].End.Frames + next.Transactions.Sum(t => t.FrameCount), next.Transactions[^1].End.Frames);

            // The last transaction's commit frame cut short, as a read racing the writer could find it.
            var torn = _directory.File("torn.db-wal");
            File.Copy(connection.DataSource + "-wal", torn);
            using (var file = new FileStream(torn, FileMode.Open))
            {
                file.SetLength(file.Length - 100);
            }

            var tornRead = WalReader.Read(torn, first.Transactions[^1].End);
            Assert.Single(tornRead.Transactions);
            Assert.Equal(next.Transactions[0].End, tornRead.Transactions[0].End);
        }
    }

    [Fact]
    public void After_the_log_starts_over_a_read_reports_the_new_generation_and_never_the_old_frames()
    {
        var (connection, _) = OpenCheckpointed();
        using (connection)
        {
            for (var i = 0; i < 5; i++)
            {
                Exec(connection, "INSERT INTO t(v) VALUES (randomblob(3000))");
            }

            var old = WalReader.Read(connection.DataSource + "-wal", after: null);
            Assert.Equal(5, old.Transactions.Count);

            // RESTART: the next write starts the log over at its beginning, leaving older frames beyond it.
            Exec(connection, "PRAGMA wal_checkpoint(RESTART)");
            Exec(connection, "INSERT INTO t(v) VALUES (1)");

            var next = WalReader.Read(connection.DataSource + "-wal", old.Transactions[^1].End);
            Assert.True(next.GenerationChanged);
            Assert.Single(next.Transactions);
            Assert.False(next.Transactions[0].End.IsIn(old.Header!.Value));
        }
    }

    [Fact]
    public void A_read_through_the_connections_own_handle_finds_what_the_file_holds()
    {
        var (connection, _) = OpenCheckpointed();
        using (connection)
        {
            var db = connection.Handle!;
            Assert.Null(WalReader.Read(db, after: null).Header); // truncated: the log is empty
            foreach (var sql in Workload)
            {
                Exec(connection, sql);
            }

            var live = WalReader.Read(db, after: null);
            var file = WalReader.Read(connection.DataSource + "-wal", after: null);
            Assert.Equal(Workload.Length, live.Transactions.Count);
            Assert.Equal(file.Header, live.Header);
            Assert.Equal(file.Transactions.Select(t => (t.End, Convert.ToHexString(t.Frames))), live.Transactions.Select(t => (t.End, Convert.ToHexString(t.Frames))));
        }
    }

    [Fact]
    public void A_missing_or_empty_log_has_no_transactions()
    {
        Assert.Null(WalReader.Read(_directory.File("none.db-wal"), after: null).Header);
        File.WriteAllBytes(_directory.File("empty.db-wal"), []);
        var empty = WalReader.Read(_directory.File("empty.db-wal"), after: null);
        Assert.Null(empty.Header);
        Assert.Empty(empty.Transactions);
    }

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        _directory.Dispose();
    }

    // A schema change, rows over several pages, updates, deletes, and a VACUUM that shrinks the file.
    private static readonly string[] Workload =
    [
        "BEGIN; WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20) INSERT INTO t(v) SELECT randomblob(3000) FROM n; COMMIT",
        "UPDATE t SET v = randomblob(10) WHERE id % 3 = 0",
        "CREATE INDEX t_len ON t(length(v))",
        "DELETE FROM t WHERE id > 5",
        "VACUUM",
        "INSERT INTO t(v) VALUES (x'01020304')",
    ];

    // A database in WAL mode whose log is empty, with SQLite's own checkpoints off, and a copy of its file as it is.
    private (SqliteConnection Connection, string Start) OpenCheckpointed()
    {
        var path = _directory.File("source.db");
        var connection = Open(path);
        Exec(connection, "PRAGMA journal_mode = WAL; PRAGMA wal_autocheckpoint = 0; CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB)");
        Exec(connection, "PRAGMA wal_checkpoint(TRUNCATE)");
        var start = _directory.File("start.db");
        File.Copy(path, start);
        return (connection, start);
    }

    private static SqliteConnection Open(string path)
    {
        var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Pooling = false }.ToString());
        connection.Open();
        return connection;
    }

    private static void Exec(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    private static object? Scalar(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        return command.ExecuteScalar();
    }

    private static string Fingerprint(SqliteConnection connection) =>
        (string)Scalar(connection, "SELECT count(*) || ':' || coalesce(group_concat(id || '=' || hex(v), ','), '') || ':' || "
            + "(SELECT group_concat(name, ',') FROM sqlite_schema) FROM t")!;
}
