using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Time.Testing;
using SQLitePCL;
using SqlitePool.Engine;

namespace SqlitePool.Tests.Engine;

/// <summary>The reads of one QueryEach call run in one read transaction, which the pool always ends.</summary>
public sealed class SharedSnapshotTests : PoolTestBase
{
    private static readonly TimeSpan Liveness = TimeSpan.FromSeconds(10);

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Reads_of_one_call_share_a_snapshot_until_it_grows_old(bool outliveSnapshot)
    {
        var time = new FakeTimeProvider();
        var pool = await OpenAsync(o => o.MaxReaders = 1, time);
        await pool.ExecuteAsync(new Statement("CREATE TABLE t(id INTEGER PRIMARY KEY)"), Ct);
        await pool.ExecuteAsync(new Statement("INSERT INTO t DEFAULT VALUES"), Ct);
        using var reading = new SemaphoreSlim(0);
        using var written = new SemaphoreSlim(0);
        using (var lease = pool.AcquireLocal(LeaseKind.Reader))
        {
            // Runs on the reader's thread, inside the first read, after it has read t.
            lease.Connection.CreateFunction("wait_for_write", () =>
            {
                reading.Release();
                return written.Wait(Liveness) ? 0L : -1L;
            });
        }

        var query = pool.QueryEachAsync([new("SELECT count(*) + wait_for_write() FROM t"), new("SELECT count(*) FROM t")]);
        Assert.True(await reading.WaitAsync(Liveness, Ct));
        await pool.ExecuteAsync(new Statement("INSERT INTO t DEFAULT VALUES"), Ct);
        if (outliveSnapshot)
        {
            time.Advance(SharedSnapshot.MaxAge * 2);
        }

        written.Release();
        var outcomes = await query.WaitAsync(Liveness, Ct);

        // In one snapshot the second read misses the write made during the first; once the snapshot is older
        // than its limit, the second read takes a fresh one.
        Assert.Equal([1L, outliveSnapshot ? 2L : 1L], outcomes.Select(o => o.GetResult()[0, 0]));
        Assert.Equal(2L, await CountAsync(pool));
        using var next = pool.AcquireLocal(LeaseKind.Reader);
        Assert.Equal(1, raw.sqlite3_get_autocommit(next.Connection.Handle));
    }

    [Fact]
    public async Task Refused_and_failing_reads_fail_alone_inside_the_snapshot_and_the_reader_goes_back_in_autocommit()
    {
        var pool = await OpenAsync(o => o.MaxReaders = 1);
        await pool.ExecuteAsync(new Statement("CREATE TABLE t(id INTEGER PRIMARY KEY); INSERT INTO t DEFAULT VALUES"), Ct);

        var outcomes = await pool.QueryEachAsync(
            [new("SELECT count(*) FROM t"), new("COMMIT"), new("SELECT nothing FROM missing"), new("SELECT count(*) FROM t")]);

        Assert.IsType<WriteOnReadPathException>(outcomes[1].Error);
        Assert.IsType<SqlStatementException>(outcomes[2].Error);
        Assert.Equal([1L, 1L], new[] { outcomes[0], outcomes[3] }.Select(o => o.GetResult()[0, 0]));
        using var next = pool.AcquireLocal(LeaseKind.Reader);
        Assert.Equal(1, raw.sqlite3_get_autocommit(next.Connection.Handle));
    }

    [Fact]
    public async Task The_pools_own_BEGIN_is_not_noted_by_the_statement_policy_but_a_callers_is()
    {
        using var connection = new SqliteConnection($"Data Source={Directory.File("policy.db")};Pooling=False");
        connection.Open();
        var db = connection.Handle!;
        var policy = StatementPolicy.Install(db, allowAttach: false, allowPragmaChanges: false, Directory.Path);
        using var worker = new ConnectionWorker("policy test");
        worker.SetConnection(connection);

        // In a work item of the connection, whose statement cache keeps the pool's own BEGIN and COMMIT.
        await worker.RunAsync(_ =>
        {
            for (var i = 0; i < 2; i++)
            {
                var snapshot = SharedSnapshot.Begin(db, policy);
                Assert.NotNull(snapshot);
                Assert.Equal(0, raw.sqlite3_get_autocommit(db));
                snapshot.End();
                Assert.Equal(1, raw.sqlite3_get_autocommit(db));
            }

            Assert.False(policy.TransactionControlSeen);
            StatementRunner.Exec(db, "BEGIN");
            Assert.True(policy.TransactionControlSeen);
            Assert.Null(SharedSnapshot.Begin(db, policy)); // already in a transaction: not the pool's to end
            StatementRunner.Exec(db, "ROLLBACK");
            return true;
        }, TestContext.Current.CancellationToken);
    }
}
