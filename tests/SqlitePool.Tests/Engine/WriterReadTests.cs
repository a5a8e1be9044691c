using SqlitePool.Engine;
using SqlitePool.Hosting;
using SqlitePool.Tests.Support;

namespace SqlitePool.Tests.Engine;

/// <summary>
/// A database with no reader open answers a read on its free writer instead of opening a reader: a database read now
/// and then holds one connection. The read is held to the read path there too, and one that runs past
/// <see cref="DatabaseOptions.CallerThreadReadLimit"/> gives the writer back and runs again on a reader.
/// </summary>
public sealed class WriterReadTests : PoolTestBase
{
    private const string EndlessRead = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT count(*) FROM n";

    [Fact]
    public async Task A_read_with_no_reader_open_runs_on_the_free_writer_and_opens_none()
    {
        var pool = await OpenWithRowAsync();

        Assert.Equal("a", (await pool.QueryAsync(new Statement("SELECT v FROM t WHERE id = 1"), Ct))[0, 0]);
        Assert.Equal("a", (await pool.QueryOnCallerAsync(new Statement("SELECT v FROM t WHERE id = 1"), Ct))[0, 0]);

        var stats = pool.GetStatistics();
        Assert.Equal(2L, stats.ReadsOnWriter);
        Assert.Equal(1L, stats.ReadsOnCaller);
        Assert.Equal(0, stats.ReadersOpen);
        Assert.False(stats.WriterBusy);
    }

    [Fact]
    public async Task Writes_and_transaction_control_are_refused_on_the_writer_as_on_a_reader()
    {
        var pool = await OpenWithRowAsync();

        // A query's text that may read only borrows the writer, and is refused there as on a reader if it writes.
        await Assert.ThrowsAsync<WriteOnReadPathException>(() => pool.QueryAsync(new Statement("WITH x AS (SELECT 'b') INSERT INTO t(v) SELECT * FROM x"), Ct));
        await Assert.ThrowsAsync<WriteOnReadPathException>(() => pool.QueryOnCallerAsync(new Statement("WITH x AS (SELECT 'b') INSERT INTO t(v) SELECT * FROM x"), Ct));
        Assert.Equal(2L, pool.GetStatistics().ReadsOnWriter);

        // Other texts go to a reader (PRAGMA optimize, say, counts as read-only and writes: only query_only stops it).
        await Assert.ThrowsAsync<WriteOnReadPathException>(() => pool.QueryAsync(new Statement("INSERT INTO t(v) VALUES ('b')"), Ct));
        await Assert.ThrowsAsync<WriteOnReadPathException>(() => pool.QueryAsync(new Statement("BEGIN IMMEDIATE"), Ct));
        await Assert.ThrowsAsync<WriteOnReadPathException>(() => pool.QueryOnCallerAsync(new Statement("CREATE TEMP TABLE x(v)"), Ct));
        await pool.QueryAsync(new Statement("PRAGMA user_version"), Ct);
        Assert.Equal(2L, pool.GetStatistics().ReadsOnWriter);

        // Nothing was written and the writer is in autocommit: a write commits on its own.
        await pool.ExecuteAsync(new Statement("INSERT INTO t(v) VALUES ('c')"), Ct);
        Assert.Equal(2L, await CountAsync(pool));
    }

    [Fact]
    public async Task A_long_read_gives_the_writer_back_and_runs_on_a_reader_while_a_write_commits()
    {
        var pool = await OpenWithRowAsync();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(Ct);

        var read = pool.QueryAsync(new Statement(EndlessRead), stop.Token);

        // Were the endless read still on the writer, this write would wait for it for ever.
        await pool.ExecuteAsync(new Statement("INSERT INTO t(v) VALUES ('b')"), Ct).WaitAsync(TimeSpan.FromSeconds(30), Ct);
        Assert.False(read.IsCompleted);
        Assert.Equal(1L, pool.LongReads.Count);

        // It runs on a reader opened for it (the write may have committed before that reader was open).
        await ClusterWaits.UntilAsync(() => Task.FromResult(pool.GetStatistics().ReadersBusy == 1));
        await stop.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => read);

        // The text goes straight to a reader now; another read borrows the writer.
        using var again = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var second = pool.QueryAsync(new Statement(EndlessRead), again.Token);
        await ClusterWaits.UntilAsync(() => Task.FromResult(pool.GetStatistics().ReadersBusy == 1));
        Assert.Equal(1L, pool.LongReads.Count);
        await again.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => second);
    }

    [Fact]
    public async Task A_long_read_from_a_callers_thread_returns_at_once_and_goes_on_on_a_reader()
    {
        var pool = await OpenWithRowAsync();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(Ct);

        var read = pool.QueryOnCallerAsync(new Statement(EndlessRead), stop.Token);

        Assert.False(read.IsCompleted, "the call returned once the read passed the limit");
        await pool.ExecuteAsync(new Statement("INSERT INTO t(v) VALUES ('b')"), Ct).WaitAsync(TimeSpan.FromSeconds(30), Ct);
        Assert.Equal(0L, pool.GetStatistics().ReadsOnCaller);
        await stop.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => read);
        Assert.Equal(2L, await CountAsync(pool));
    }

    [Fact]
    public async Task A_read_cancelled_on_the_writer_leaves_it_free()
    {
        var pool = await OpenWithRowAsync(o => o.CallerThreadReadLimit = TimeSpan.FromSeconds(1));
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        cancel.CancelAfter(TimeSpan.FromMilliseconds(20));

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => pool.QueryAsync(new Statement(EndlessRead), cancel.Token));

        Assert.Equal(0, pool.GetStatistics().ReadersOpen);
        Assert.False(pool.GetStatistics().WriterBusy);
        await pool.ExecuteAsync(new Statement("INSERT INTO t(v) VALUES ('b')"), Ct);
    }

    [Fact]
    public async Task A_read_while_the_writer_is_held_opens_a_reader_instead_of_waiting()
    {
        var pool = await OpenWithRowAsync();
        await using var writer = await pool.AcquireAsync(LeaseKind.Writer, Ct);
        await writer.ExecuteAsync(new Statement("BEGIN"), Ct);
        await writer.ExecuteAsync(new Statement("INSERT INTO t(v) VALUES ('uncommitted')"), Ct);

        Assert.Equal(1L, await CountAsync(pool).WaitAsync(TimeSpan.FromSeconds(30), Ct));

        Assert.Equal(1, pool.GetStatistics().ReadersOpen);
        Assert.Equal(0L, pool.GetStatistics().ReadsOnWriter);
        await writer.ExecuteAsync(new Statement("ROLLBACK"), Ct);
    }

    [Fact]
    public async Task With_a_limit_of_zero_reads_never_borrow_the_writer()
    {
        var pool = await OpenWithRowAsync(o => o.CallerThreadReadLimit = TimeSpan.Zero);

        Assert.Equal(1L, await CountAsync(pool));

        Assert.Equal(0L, pool.GetStatistics().ReadsOnWriter);
        Assert.Equal(1, pool.GetStatistics().ReadersOpen);
    }

    [Fact]
    public async Task Past_the_budgets_ceiling_a_database_with_no_reader_reads_on_its_writer_once_it_is_free()
    {
        using var directory = new TempDirectory();
        await using var full = await PastTheCeilingAsync(directory);
        var (budget, second) = (full.Budget, full.Second);
        var writer = await second.AcquireAsync(LeaseKind.Writer, Ct);
        var read = second.QueryAsync(new Statement("SELECT 7"), Ct);
        Assert.Equal(1, second.GetStatistics().ReaderWaiters);
        await writer.DisposeAsync();

        Assert.Equal(7L, (await read.WaitAsync(TimeSpan.FromSeconds(30), Ct))[0, 0]);
        Assert.Equal(0, second.GetStatistics().ReadersOpen);
        Assert.Equal(1L, second.GetStatistics().ReadsOnWriter);
        Assert.Equal(budget.Ceiling, budget.Used);
    }

    [Fact]
    public async Task Past_the_budgets_ceiling_a_read_waiting_for_the_writer_goes_before_writes_queued_after_it()
    {
        using var directory = new TempDirectory();
        await using var full = await PastTheCeilingAsync(directory);
        var second = full.Second;
        await second.ExecuteAsync(new Statement("CREATE TABLE t(v)"), Ct);
        var writer = await second.AcquireAsync(LeaseKind.Writer, Ct);
        var before = second.ExecuteAsync(new Statement("INSERT INTO t VALUES (1)"), Ct);
        var read = second.QueryAsync(new Statement("SELECT count(*) FROM t"), Ct);
        var after = second.ExecuteAsync(new Statement("INSERT INTO t VALUES (2)"), Ct);
        await writer.DisposeAsync();

        // Oldest first, as for writes among themselves (the write after it does not join the group before it): a stream
        // of writes cannot hold the read back.
        Assert.Equal(1L, (await read.WaitAsync(TimeSpan.FromSeconds(30), Ct))[0, 0]);
        await Task.WhenAll(before, after).WaitAsync(TimeSpan.FromSeconds(30), Ct);
    }

    [Fact]
    public async Task Past_the_budgets_ceiling_a_long_read_granted_the_writer_gives_it_back_to_a_write_and_goes_on_on_a_reader()
    {
        using var directory = new TempDirectory();
        await using var full = await PastTheCeilingAsync(directory);
        var (budget, second) = (full.Budget, full.Second);
        await second.ExecuteAsync(new Statement("CREATE TABLE t(v)"), Ct);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var writer = await second.AcquireAsync(LeaseKind.Writer, Ct);
        var read = second.QueryAsync(new Statement(EndlessRead), stop.Token);
        Assert.Equal(1, second.GetStatistics().ReaderWaiters);

        // No reader can open: the read is granted the writer as it comes back.
        await writer.DisposeAsync();

        // Were it held there without limit, the write would wait for it until AcquireTimeout.
        await WritesWhileTheReadMovesToAReaderAsync(budget, second, read, stop);
    }

    [Fact]
    public async Task Past_the_budgets_ceiling_a_long_read_that_borrowed_the_writer_does_not_come_back_to_it()
    {
        using var directory = new TempDirectory();
        await using var full = await PastTheCeilingAsync(directory);
        var (budget, second) = (full.Budget, full.Second);
        await second.ExecuteAsync(new Statement("CREATE TABLE t(v)"), Ct);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(Ct);

        // It borrows the free writer, passes the limit there, and asks for a reader, which cannot open within the ceiling.
        var read = second.QueryAsync(new Statement(EndlessRead), stop.Token);

        await WritesWhileTheReadMovesToAReaderAsync(budget, second, read, stop);
    }

    /// <summary>Writes commit while the endless <paramref name="read"/> goes on on a first reader, opened for it past
    /// the ceiling (as for a lease: the read cannot run on the writer without holding it), then the read is cancelled.</summary>
    private static async Task WritesWhileTheReadMovesToAReaderAsync(OpenFileBudget budget, DatabasePool pool, Task read, CancellationTokenSource stop)
    {
        // The second is sent once the first has given the writer back, after the read had it (or asked for it again).
        await pool.ExecuteAsync(new Statement("INSERT INTO t VALUES (1)"), Ct).WaitAsync(TimeSpan.FromSeconds(30), Ct);
        await pool.ExecuteAsync(new Statement("INSERT INTO t VALUES (2)"), Ct).WaitAsync(TimeSpan.FromSeconds(30), Ct);

        Assert.False(read.IsCompleted);
        await ClusterWaits.UntilAsync(() => Task.FromResult(pool.GetStatistics().ReadersBusy == 1));
        Assert.Equal(1L, pool.GetStatistics().ReadsOnWriter);
        Assert.Equal(budget.Ceiling + OpenFileBudget.PerReader, budget.Used);
        await stop.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => read);
        Assert.False(pool.GetStatistics().WriterBusy);
        Assert.Equal(2L, await CountAsync(pool));
    }

    [Fact]
    public async Task Past_the_budgets_ceiling_a_read_that_waited_too_long_for_the_writer_says_why()
    {
        using var directory = new TempDirectory();
        await using var full = await PastTheCeilingAsync(directory, new DatabaseOptions { AcquireTimeout = TimeSpan.FromMilliseconds(200) });
        await using var writer = await full.Second.AcquireAsync(LeaseKind.Writer, Ct);

        var error = await Assert.ThrowsAsync<DatabaseTimeoutException>(() => full.Second.QueryAsync(new Statement("SELECT 7"), Ct).WaitAsync(TimeSpan.FromSeconds(30), Ct));

        Assert.Contains("open files", error.Message);
        Assert.Equal(nameof(DatabaseOptions.AcquireTimeout), error.Setting);
    }

    [Fact]
    public async Task A_read_held_back_by_exclusive_access_under_the_budget_does_not_blame_the_budget_when_it_times_out()
    {
        using var directory = new TempDirectory();
        await using var registry = new DatabasePoolRegistry(TimeProvider.System, fileBudget: new OpenFileBudget(OpenFileBudget.PerDatabase));
        var pool = await registry.GetOrOpenAsync("only.db", directory.File("only.db"), new DatabaseOptions { AcquireTimeout = TimeSpan.FromMilliseconds(200) }, null);
        await using var exclusive = await pool.AcquireAsync(LeaseKind.Exclusive, Ct);

        var error = await Assert.ThrowsAsync<DatabaseTimeoutException>(() => pool.QueryAsync(new Statement("SELECT 7"), Ct).WaitAsync(TimeSpan.FromSeconds(30), Ct));

        Assert.DoesNotContain("open files", error.Message);
    }

    [Fact]
    public async Task Past_the_budgets_ceiling_a_reader_lease_still_opens_a_first_reader_and_reads_behind_it_follow()
    {
        using var directory = new TempDirectory();
        await using var full = await PastTheCeilingAsync(directory);
        var (budget, second) = (full.Budget, full.Second);
        var writer = await second.AcquireAsync(LeaseKind.Writer, Ct);

        // A lease cannot run on the writer: it gets a reader of its own, past the ceiling.
        await using var lease = await second.AcquireAsync(LeaseKind.Reader, Ct).WaitAsync(TimeSpan.FromSeconds(10), Ct);
        var read = second.QueryAsync(new Statement("SELECT 7"), Ct);
        await lease.DisposeAsync();

        Assert.Equal(7L, (await read.WaitAsync(TimeSpan.FromSeconds(10), Ct))[0, 0]);
        Assert.Equal(budget.Ceiling + OpenFileBudget.PerReader, budget.Used);
        await writer.DisposeAsync();
    }

    [Fact]
    public async Task Past_the_budgets_ceiling_a_text_that_may_not_borrow_the_writer_still_gets_a_reader()
    {
        using var directory = new TempDirectory();
        await using var full = await PastTheCeilingAsync(directory);
        var (budget, second) = (full.Budget, full.Second);

        Assert.Equal(0L, (await second.QueryAsync(new Statement("PRAGMA user_version"), Ct).WaitAsync(TimeSpan.FromSeconds(10), Ct))[0, 0]);

        Assert.Equal(0L, second.GetStatistics().ReadsOnWriter);
        Assert.Equal(1, second.GetStatistics().ReadersOpen);
    }

    [Fact]
    public async Task Past_the_budgets_ceiling_a_read_waiting_for_the_held_writer_opens_a_reader_once_another_database_closes()
    {
        using var directory = new TempDirectory();
        await using var full = await PastTheCeilingAsync(directory);
        var (budget, second) = (full.Budget, full.Second);
        await using var writer = await second.AcquireAsync(LeaseKind.Writer, Ct);
        var read = second.QueryAsync(new Statement("SELECT 7"), Ct);
        Assert.Equal(1, second.GetStatistics().ReaderWaiters);

        // The first database gives its files back; nothing happens in the second, whose writer stays held.
        await full.First.CloseAsync();

        Assert.Equal(7L, (await read.WaitAsync(TimeSpan.FromSeconds(10), Ct))[0, 0]);
        Assert.Equal(1, second.GetStatistics().ReadersOpen);
        Assert.Equal(0L, second.GetStatistics().ReadsOnWriter);
        Assert.Equal(OpenFileBudget.PerDatabase + OpenFileBudget.PerReader, budget.Used);
    }

    /// <summary>Two databases under a budget of two: the first holds a reader, which took the budget to its ceiling;
    /// the second has none.</summary>
    private static async Task<PastCeiling> PastTheCeilingAsync(TempDirectory directory, DatabaseOptions? secondOptions = null)
    {
        var budget = new OpenFileBudget(2 * OpenFileBudget.PerDatabase);
        var registry = new DatabasePoolRegistry(TimeProvider.System, fileBudget: budget);
        var first = await registry.GetOrOpenAsync("first.db", directory.File("first.db"), new DatabaseOptions(), null);
        var second = await registry.GetOrOpenAsync("second.db", directory.File("second.db"), secondOptions ?? new DatabaseOptions(), null);
        var reading = await first.AcquireAsync(LeaseKind.Reader, Ct);
        Assert.Equal(budget.Ceiling, budget.Used);
        return new PastCeiling(budget, registry, first, reading, second);
    }

    private sealed record PastCeiling(OpenFileBudget Budget, DatabasePoolRegistry Registry, DatabasePool First, PoolLease Reading, DatabasePool Second) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            await Reading.DisposeAsync();
            await Registry.DisposeAsync();
        }
    }
}
