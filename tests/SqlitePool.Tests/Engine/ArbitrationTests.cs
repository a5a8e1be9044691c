using Microsoft.Extensions.Time.Testing;

namespace SqlitePool.Tests.Engine;

/// <summary>Invariants 1–4 of DESIGN.md on the engine itself.</summary>
public sealed class ArbitrationTests : PoolTestBase
{
    [Fact]
    public async Task A_second_writer_waits_until_the_first_is_released()
    {
        var pool = await OpenAsync();
        await pool.ExecuteAsync(new Statement("CREATE TABLE t(v)"), Ct);
        var first = await pool.AcquireAsync(LeaseKind.Writer, Ct);

        var second = pool.AcquireAsync(LeaseKind.Writer, Ct);
        var execute = pool.ExecuteAsync(new Statement("INSERT INTO t VALUES (2)"), Ct);
        await first.ExecuteAsync(new Statement("INSERT INTO t VALUES (1)"), Ct);
        Assert.False(second.IsCompleted);
        Assert.False(execute.IsCompleted);
        Assert.Equal(2, pool.GetStatistics().WriterWaiters);

        await first.DisposeAsync();
        await using var lease = await second;
        Assert.False(execute.IsCompleted);
        await lease.DisposeAsync();
        await execute;
        Assert.Equal(2L, await CountAsync(pool));
    }

    [Fact]
    public async Task Concurrent_writers_never_overlap()
    {
        var pool = await OpenAsync();
        await pool.ExecuteAsync(new Statement("CREATE TABLE counter(n INTEGER)"), Ct);
        await pool.ExecuteAsync(new Statement("INSERT INTO counter VALUES (0)"), Ct);
        var inside = 0;
        var maxInside = 0;

        await Task.WhenAll(Enumerable.Range(0, 24).Select(async _ =>
        {
            await using var lease = await pool.AcquireAsync(LeaseKind.Writer, Ct);
            var now = Interlocked.Increment(ref inside);
            InterlockedMax(ref maxInside, now);
            var n = (long)(await lease.QueryAsync(new Statement("SELECT n FROM counter"), Ct))[0, 0]!;
            await Task.Yield();
            await lease.ExecuteAsync(new Statement("UPDATE counter SET n = ?", n + 1), Ct);
            Interlocked.Decrement(ref inside);
        }));

        Assert.Equal(1, maxInside);
        Assert.Equal(24L, (await pool.QueryAsync(new Statement("SELECT n FROM counter"), Ct))[0, 0]);
    }

    [Fact]
    public async Task Readers_run_beside_an_open_write_transaction_and_see_only_committed_rows()
    {
        var pool = await OpenAsync();
        await pool.ExecuteAsync(new Statement("CREATE TABLE t(v)"), Ct);
        await using var writer = await pool.AcquireAsync(LeaseKind.Writer, Ct);
        await writer.ExecuteAsync(new Statement("BEGIN IMMEDIATE"), Ct);
        await writer.ExecuteAsync(new Statement("INSERT INTO t VALUES (1)"), Ct);

        var duringTransaction = await CountAsync(pool);
        await using var reader = await pool.AcquireAsync(LeaseKind.Reader, Ct);
        var snapshotBefore = (await reader.QueryAsync(new Statement("SELECT count(*) FROM t"), Ct))[0, 0];
        await writer.ExecuteAsync(new Statement("COMMIT"), Ct);
        var snapshotAfter = (await reader.QueryAsync(new Statement("SELECT count(*) FROM t"), Ct))[0, 0];
        var fresh = await CountAsync(pool);

        Assert.Equal(0L, duringTransaction);
        Assert.Equal(0L, snapshotBefore);
        Assert.Equal(0L, snapshotAfter); // one snapshot for the whole reader lease
        Assert.Equal(1L, fresh);
    }

    [Fact]
    public async Task Exclusive_waits_for_current_leases_then_holds_new_ones_back()
    {
        var pool = await OpenAsync();
        await pool.ExecuteAsync(new Statement("CREATE TABLE t(v)"), Ct);
        var reader = await pool.AcquireAsync(LeaseKind.Reader, Ct);

        var exclusive = pool.AcquireAsync(LeaseKind.Exclusive, Ct);
        var laterReader = pool.AcquireAsync(LeaseKind.Reader, Ct);
        var laterWrite = pool.ExecuteAsync(new Statement("INSERT INTO t VALUES (1)"), Ct);
        await reader.QueryAsync(new Statement("SELECT 1"), Ct);
        Assert.False(exclusive.IsCompleted);
        Assert.Equal(1, pool.GetStatistics().ExclusiveWaiters);

        await reader.DisposeAsync();
        var held = await exclusive;
        await held.ExecuteAsync(new Statement("INSERT INTO t VALUES (0)"), Ct);
        Assert.True(pool.GetStatistics().ExclusiveHeld);
        Assert.False(laterReader.IsCompleted);
        Assert.False(laterWrite.IsCompleted);

        await held.DisposeAsync();
        await (await laterReader).DisposeAsync();
        await laterWrite;
        Assert.Equal([0L, 1L], (await pool.QueryAsync(new Statement("SELECT v FROM t ORDER BY rowid"), Ct)).Values);
    }

    [Fact]
    public async Task An_idle_writer_lease_expires_and_its_transaction_is_rolled_back()
    {
        var time = new FakeTimeProvider();
        var pool = await OpenAsync(o => o.LeaseIdleTimeout = TimeSpan.FromSeconds(10), time);
        await pool.ExecuteAsync(new Statement("CREATE TABLE t(v)"), Ct);
        var lease = await pool.AcquireAsync(LeaseKind.Writer, Ct);
        await lease.ExecuteAsync(new Statement("BEGIN IMMEDIATE; INSERT INTO t VALUES (1)"), Ct);
        var next = pool.ExecuteAsync(new Statement("INSERT INTO t VALUES (2)"), Ct);

        time.Advance(TimeSpan.FromSeconds(5));
        Assert.False(next.IsCompleted);
        time.Advance(TimeSpan.FromSeconds(8));
        await next;

        var error = await Assert.ThrowsAsync<LeaseNotFoundException>(() => lease.ExecuteAsync(new Statement("COMMIT"), Ct));
        Assert.True(error.Expired);
        Assert.Contains("LeaseIdleTimeout", error.Message, StringComparison.Ordinal);
        Assert.Equal([2L], (await pool.QueryAsync(new Statement("SELECT v FROM t"), Ct)).Values);
        Assert.Equal(1, pool.GetStatistics().ExpiredLeases);
        Assert.Throws<LeaseNotFoundException>(() => pool.GetLease(lease.Id));
    }

    [Fact]
    public async Task A_lease_held_past_MaxLeaseHoldTime_expires_even_though_it_is_used()
    {
        var time = new FakeTimeProvider();
        var pool = await OpenAsync(o =>
        {
            o.LeaseIdleTimeout = TimeSpan.FromSeconds(10);
            o.MaxLeaseHoldTime = TimeSpan.FromSeconds(20);
        }, time);
        await pool.ExecuteAsync(new Statement("CREATE TABLE t(v)"), Ct);
        var lease = await pool.AcquireAsync(LeaseKind.Writer, Ct);
        await lease.ExecuteAsync(new Statement("BEGIN IMMEDIATE"), Ct);
        for (var i = 0; i < 4; i++)
        {
            time.Advance(TimeSpan.FromSeconds(4)); // always used within the idle timeout
            await lease.ExecuteAsync(new Statement("INSERT INTO t VALUES (?)", i), Ct);
        }

        var next = pool.ExecuteAsync(new Statement("INSERT INTO t VALUES ('next')"), Ct);
        time.Advance(TimeSpan.FromSeconds(6));
        await next;

        var error = await Assert.ThrowsAsync<LeaseNotFoundException>(() => lease.ExecuteAsync(new Statement("COMMIT"), Ct));
        Assert.Contains("MaxLeaseHoldTime", error.Message, StringComparison.Ordinal);
        Assert.Equal(["next"], (await pool.QueryAsync(new Statement("SELECT v FROM t"), Ct)).Values);
    }

    [Fact]
    public async Task A_revoked_lease_rolls_back_hands_the_writer_on_and_tells_its_holder_why()
    {
        var pool = await OpenAsync();
        await pool.ExecuteAsync(new Statement("CREATE TABLE t(v)"), Ct);
        var holder = new LeaseHolder("sys.client/abc", null, IsClient: true);
        var lease = await pool.AcquireAsync(LeaseKind.Writer, holder, Ct);
        await lease.ExecuteAsync(new Statement("BEGIN IMMEDIATE"), Ct);
        await lease.ExecuteAsync(new Statement("INSERT INTO t VALUES ('abandoned')"), Ct);
        Assert.Equal(holder, Assert.Single(pool.GetStatistics().Leases).Holder);
        var next = pool.ExecuteAsync(new Statement("INSERT INTO t VALUES ('next')"), Ct);

        Assert.True(await pool.RevokeAsync(lease.Id, "its holder sys.client/abc did not answer"));
        await next;

        Assert.False(await pool.RevokeAsync(lease.Id, "again"));
        var error = await Assert.ThrowsAsync<LeaseNotFoundException>(() => lease.ExecuteAsync(new Statement("COMMIT"), Ct));
        Assert.True(error.Expired);
        Assert.Contains("was revoked: its holder sys.client/abc did not answer", error.Message, StringComparison.Ordinal);
        Assert.Equal(["next"], (await pool.QueryAsync(new Statement("SELECT v FROM t"), Ct)).Values);
        Assert.Equal((1L, 0L), (pool.GetStatistics().RevokedLeases, pool.GetStatistics().ExpiredLeases));
    }

    [Fact]
    public async Task Waiting_past_AcquireTimeout_fails_with_a_timeout_that_names_the_setting()
    {
        var time = new FakeTimeProvider();
        var pool = await OpenAsync(o => o.AcquireTimeout = TimeSpan.FromSeconds(2), time);
        await pool.ExecuteAsync(new Statement("CREATE TABLE t(v)"), Ct);
        var holder = await pool.AcquireAsync(LeaseKind.Writer, Ct);

        var waiting = pool.ExecuteAsync(new Statement("INSERT INTO t VALUES (1)"), Ct);
        time.Advance(TimeSpan.FromSeconds(3));
        var error = await Assert.ThrowsAsync<DatabaseTimeoutException>(() => waiting);

        Assert.Equal("AcquireTimeout", error.Setting);
        Assert.Contains("AcquireTimeout", error.Message, StringComparison.Ordinal);
        Assert.Equal(1, pool.GetStatistics().Timeouts);
        Assert.Equal(0, pool.GetStatistics().WriterWaiters);
        await holder.DisposeAsync();
        await pool.ExecuteAsync(new Statement("INSERT INTO t VALUES (1)"), Ct);
        Assert.Equal(1L, await CountAsync(pool));
    }

    [Fact]
    public async Task A_waiter_cancelled_by_its_caller_leaves_the_queue_and_the_next_one_is_served()
    {
        var pool = await OpenAsync();
        await pool.ExecuteAsync(new Statement("CREATE TABLE t(v)"), Ct);
        var holder = await pool.AcquireAsync(LeaseKind.Writer, Ct);
        using var cancel = new CancellationTokenSource();
        var cancelled = pool.ExecuteAsync(new Statement("INSERT INTO t VALUES (1)"), cancel.Token);
        var next = pool.ExecuteAsync(new Statement("INSERT INTO t VALUES (2)"), Ct);

        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => cancelled);
        Assert.Equal(1, pool.GetStatistics().WriterWaiters);
        await holder.DisposeAsync();
        await next;

        Assert.Equal([2L], (await pool.QueryAsync(new Statement("SELECT v FROM t"), Ct)).Values);
    }

    [Fact]
    public async Task A_cancelled_exclusive_request_stops_holding_others_back()
    {
        var pool = await OpenAsync();
        var reader = await pool.AcquireAsync(LeaseKind.Reader, Ct);
        using var cancel = new CancellationTokenSource();
        var exclusive = pool.AcquireAsync(LeaseKind.Exclusive, cancel.Token);
        var write = pool.ExecuteAsync(new Statement("CREATE TABLE t(v)"), Ct);
        Assert.False(write.IsCompleted);

        await cancel.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => exclusive);
        await write;
        await reader.DisposeAsync();
        Assert.Equal(0, pool.GetStatistics().ExclusiveWaiters);
    }

    [Fact]
    public async Task A_full_writer_queue_refuses_with_overloaded()
    {
        var pool = await OpenAsync(o => o.WriterQueueCapacity = 2);
        await pool.ExecuteAsync(new Statement("CREATE TABLE t(v)"), Ct);
        var holder = await pool.AcquireAsync(LeaseKind.Writer, Ct);
        var queued = new[] { pool.ExecuteAsync(new Statement("INSERT INTO t VALUES (1)"), Ct), pool.ExecuteAsync(new Statement("INSERT INTO t VALUES (2)"), Ct) };

        var error = await Assert.ThrowsAsync<DatabaseOverloadedException>(() => pool.ExecuteAsync(new Statement("INSERT INTO t VALUES (3)"), Ct));

        Assert.Equal(("WriterQueueCapacity", 2), (error.Setting, error.Limit));
        await holder.DisposeAsync();
        await Task.WhenAll(queued);
        Assert.Equal(2L, await CountAsync(pool));
    }

    [Fact]
    public async Task Readers_open_on_demand_up_to_the_maximum_and_the_statistics_add_up()
    {
        var pool = await OpenAsync(o => o.MaxReaders = 3);
        Assert.Equal(0, pool.GetStatistics().ReadersOpen);
        var leases = new List<PoolLeaseHandle>();
        for (var i = 0; i < 3; i++)
        {
            leases.Add(new(await pool.AcquireAsync(LeaseKind.Reader, Ct)));
        }

        var fourth = pool.AcquireAsync(LeaseKind.Reader, Ct);
        var full = pool.GetStatistics();
        await leases[0].Lease.DisposeAsync();
        await using var granted = await fourth;
        foreach (var lease in leases.Skip(1))
        {
            await lease.Lease.DisposeAsync();
        }

        var busy = pool.GetStatistics();
        await granted.DisposeAsync();
        var idle = pool.GetStatistics();

        Assert.Equal((3, 0, 3, 1, 3), (full.ReadersOpen, full.ReadersIdle, full.ReadersBusy, full.ReaderWaiters, full.Leases.Length));
        Assert.Equal((3, 2, 1, 1), (busy.ReadersOpen, busy.ReadersIdle, busy.ReadersBusy, busy.Leases.Length));
        Assert.Equal((3, 3, 0, 0), (idle.ReadersOpen, idle.ReadersIdle, idle.ReadersBusy, idle.Leases.Length));
    }

    [Fact]
    public async Task Cancelling_a_running_query_interrupts_it_and_the_reader_serves_the_next_one()
    {
        var pool = await OpenAsync(o => o.MaxReaders = 1);
        using var cancel = new CancellationTokenSource();
        var endless = pool.QueryAsync(new Statement("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"), cancel.Token);
        cancel.CancelAfter(TimeSpan.FromMilliseconds(200));

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => endless);

        Assert.Equal(7L, (await pool.QueryAsync(new Statement("SELECT 7"), Ct))[0, 0]);
        Assert.Equal(1, pool.GetStatistics().ReadersOpen);
    }

    [Fact]
    public async Task A_statement_past_StatementTimeout_is_interrupted_with_a_timeout_naming_the_setting()
    {
        var pool = await OpenAsync(o =>
        {
            o.MaxReaders = 1;
            o.StatementTimeout = TimeSpan.FromMilliseconds(200);
        });

        var error = await Assert.ThrowsAsync<DatabaseTimeoutException>(() =>
            pool.QueryAsync(new Statement("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"), Ct));

        Assert.Equal("StatementTimeout", error.Setting);
        Assert.Equal(1, pool.GetStatistics().Timeouts);
        Assert.Equal(3L, (await pool.QueryAsync(new Statement("SELECT 3"), Ct))[0, 0]);
    }

    [Fact]
    public async Task Close_fails_waiters_ends_leases_with_rollback_and_refuses_new_calls()
    {
        var pool = await OpenAsync();
        await pool.ExecuteAsync(new Statement("CREATE TABLE t(v)"), Ct);
        var lease = await pool.AcquireAsync(LeaseKind.Writer, Ct);
        await lease.ExecuteAsync(new Statement("BEGIN IMMEDIATE; INSERT INTO t VALUES (1)"), Ct);
        await CountAsync(pool); // opens a reader
        var waiting = pool.ExecuteAsync(new Statement("INSERT INTO t VALUES (2)"), Ct);

        await pool.CloseAsync();

        await Assert.ThrowsAsync<DatabaseClosedException>(() => waiting);
        await Assert.ThrowsAsync<LeaseNotFoundException>(() => lease.ExecuteAsync(new Statement("COMMIT"), Ct));
        await Assert.ThrowsAsync<DatabaseClosedException>(() => pool.QueryAsync(new Statement("SELECT 1"), Ct));
        Assert.False(File.Exists(pool.Path + "-wal"), "the last close checkpoints and removes the WAL");
        var reopened = await OpenAsync();
        Assert.Equal(0L, await CountAsync(reopened));
    }

    private static void InterlockedMax(ref int target, int value)
    {
        int current;
        while ((current = Volatile.Read(ref target)) < value && Interlocked.CompareExchange(ref target, value, current) != current)
        {
        }
    }
}

/// <summary>Keeps a lease in a list without the analyzer asking for disposal in place.</summary>
internal readonly record struct PoolLeaseHandle(SqlitePool.Engine.PoolLease Lease);
