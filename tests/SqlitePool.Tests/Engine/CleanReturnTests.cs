using Microsoft.Data.Sqlite;

namespace SqlitePool.Tests.Engine;

/// <summary>A connection goes back to the pool clean, whatever its holder left behind: no live statement (and so no
/// pinned snapshot), no open transaction, ADO.NET's own state cleared, and the pool's hooks in place.</summary>
public sealed class CleanReturnTests : PoolTestBase
{
    [Fact]
    public async Task A_data_reader_left_open_on_a_local_reader_pins_no_snapshot_for_later_reads()
    {
        var pool = await OpenAsync(o => o.MaxReaders = 1);
        await pool.ExecuteAsync(new Statement("CREATE TABLE t(v); INSERT INTO t VALUES (1), (2), (3)"), Ct);

        using (var lease = pool.AcquireLocal(LeaseKind.Reader))
        {
            var command = lease.Connection.CreateCommand();
            command.CommandText = "SELECT v FROM t";
            var reader = command.ExecuteReader();
            Assert.True(reader.Read()); // stepped, never finished or disposed
        }

        await pool.ExecuteAsync(new Statement("INSERT INTO t VALUES (4)"), Ct);

        Assert.Equal(4L, await CountAsync(pool));
        using var next = pool.AcquireLocal(LeaseKind.Reader);
        Assert.Equal(4L, Count(next.Connection));
    }

    [Fact]
    public async Task A_kept_command_whose_reader_was_left_open_works_for_the_next_holder()
    {
        var pool = await OpenAsync(o => o.MaxReaders = 1);
        await pool.ExecuteAsync(new Statement("CREATE TABLE t(v); INSERT INTO t VALUES (1), (2)"), Ct);

        using (var lease = pool.AcquireLocal(LeaseKind.Reader))
        {
            Assert.True(lease.Prepare("SELECT v FROM t ORDER BY v").ExecuteReader().Read());
        }

        await pool.ExecuteAsync(new Statement("INSERT INTO t VALUES (0)"), Ct);
        using var next = pool.AcquireLocal(LeaseKind.Reader);
        Assert.Equal(0L, next.Prepare("SELECT v FROM t ORDER BY v").ExecuteScalar());
    }

    [Fact]
    public async Task A_transaction_object_left_open_on_a_local_writer_is_rolled_back_and_the_next_holder_can_begin_one()
    {
        var pool = await OpenAsync();
        await pool.ExecuteAsync(new Statement("CREATE TABLE t(v)"), Ct);

        using (var lease = pool.AcquireLocal(LeaseKind.Writer))
        {
            var transaction = lease.Connection.BeginTransaction();
            var insert = lease.Connection.CreateCommand();
            insert.Transaction = transaction;
            insert.CommandText = "INSERT INTO t VALUES ('left open')";
            insert.ExecuteNonQuery();
        }

        using (var next = pool.AcquireLocal(LeaseKind.Writer))
        {
            using var transaction = next.Connection.BeginTransaction();
            var insert = next.Connection.CreateCommand();
            insert.Transaction = transaction;
            insert.CommandText = "INSERT INTO t VALUES ('committed')";
            insert.ExecuteNonQuery();
            transaction.Commit();
        }

        Assert.Equal(["committed"], (await pool.QueryAsync(new Statement("SELECT v FROM t"), Ct)).Values);
    }

    [Fact]
    public async Task Tables_of_a_transaction_object_rolled_back_or_left_open_are_not_reported_as_changed()
    {
        var pool = await OpenAsync();
        await pool.ExecuteAsync(new Statement("CREATE TABLE kept(v); CREATE TABLE undone(v); CREATE TABLE left_open(v); CREATE TABLE lease_undone(v)"), Ct);
        await pool.TrackChangesAsync();

        using (var lease = pool.AcquireLocal(LeaseKind.Writer))
        {
            using (var transaction = lease.Connection.BeginTransaction())
            {
                Run(lease.Connection, transaction, "INSERT INTO kept VALUES (1)");
                transaction.Commit();
            }

            using (var transaction = lease.Connection.BeginTransaction())
            {
                Run(lease.Connection, transaction, "INSERT INTO undone VALUES (1)");
                transaction.Rollback();
            }

            Run(lease.Connection, lease.Connection.BeginTransaction(), "INSERT INTO left_open VALUES (1)");
        }

        // A transaction rolled back on a lease after ADO.NET transactions have come and gone on the writer.
        await using (var writer = await pool.AcquireAsync(LeaseKind.Writer, Ct))
        {
            await writer.ExecuteAsync(new Statement("BEGIN"), Ct);
            await writer.ExecuteAsync(new Statement("INSERT INTO lease_undone VALUES (1)"), Ct);
            await writer.ExecuteAsync(new Statement("ROLLBACK"), Ct);
        }

        Assert.Equal(["kept"], pool.TakeChangedTables());
    }

    [Fact]
    public async Task A_local_writer_whose_transaction_object_was_ended_by_SQL_still_goes_back()
    {
        var pool = await OpenAsync(o => o.AcquireTimeout = TimeSpan.FromSeconds(10));
        await pool.ExecuteAsync(new Statement("CREATE TABLE t(v)"), Ct);

        using (var lease = pool.AcquireLocal(LeaseKind.Writer))
        {
            // ADO.NET still holds the transaction object; its ROLLBACK on return finds no transaction.
            Run(lease.Connection, lease.Connection.BeginTransaction(), "INSERT INTO t VALUES (1); COMMIT");
        }

        Assert.False(pool.GetStatistics().WriterBusy);
        Assert.Equal(2L, (await pool.ExecuteAsync(new Statement("INSERT INTO t VALUES (2)"), Ct)).LastInsertRowId);
        using var next = pool.AcquireLocal(LeaseKind.Writer);
        using var transaction = next.Connection.BeginTransaction();
        transaction.Commit();
    }

    private static void Run(SqliteConnection connection, SqliteTransaction transaction, string sql)
    {
        var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    private static long Count(SqliteConnection connection)
    {
        using var count = connection.CreateCommand();
        count.CommandText = "SELECT count(*) FROM t";
        return (long)count.ExecuteScalar()!;
    }
}
