using SqlitePool.Engine;
using SqlitePool.Hosting;
using SqlitePool.Tests.Support;

namespace SqlitePool.Tests.Engine;

/// <summary>More databases than the process can hold open: the least recently used idle ones close to make room,
/// and open again with their data when used.</summary>
public sealed class FileBudgetTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Thirty_databases_share_a_budget_of_five_and_keep_their_data()
    {
        using var directory = new TempDirectory();
        var budget = new OpenFileBudget(5 * OpenFileBudget.PerDatabase);
        await using var registry = new DatabasePoolRegistry(TimeProvider.System, fileBudget: budget);
        long most = 0;

        for (var round = 0; round < 3; round++)
        {
            for (var i = 0; i < 30; i++)
            {
                var pool = await registry.GetOrOpenAsync($"b{i}.db", directory.File($"b{i}.db"), new DatabaseOptions(), null);
                if (round == 0)
                {
                    await pool.ExecuteAsync(new Statement("CREATE TABLE t(v)"), Ct);
                }

                await pool.ExecuteAsync(new Statement("INSERT INTO t VALUES (?)", round), Ct);
                Assert.Equal(round + 1L, (await pool.QueryAsync(new Statement("SELECT count(*) FROM t"), Ct))[0, 0]);
                most = Math.Max(most, budget.Used);
            }
        }

        Assert.InRange(most, 1, budget.Limit);
        Assert.InRange(registry.OpenPools.Count(p => !p.IsClosed), 1, 5);
        Assert.True(registry.Evictions >= 80, $"{registry.Evictions} evictions");
    }

    [Fact]
    public async Task A_database_in_use_is_not_closed_to_make_room()
    {
        using var directory = new TempDirectory();
        var budget = new OpenFileBudget(2 * OpenFileBudget.PerDatabase);
        await using var registry = new DatabasePoolRegistry(TimeProvider.System, fileBudget: budget);
        var held = await registry.GetOrOpenAsync("held.db", directory.File("held.db"), new DatabaseOptions(), null);
        await using var lease = await held.AcquireAsync(LeaseKind.Writer, Ct);
        await lease.ExecuteAsync(new Statement("CREATE TABLE t(v)"), Ct);

        for (var i = 0; i < 10; i++)
        {
            var pool = await registry.GetOrOpenAsync($"o{i}.db", directory.File($"o{i}.db"), new DatabaseOptions(), null);
            Assert.Equal(1L, (await pool.QueryAsync(new Statement("SELECT 1"), Ct))[0, 0]);
        }

        Assert.False(held.IsClosed);
        await lease.ExecuteAsync(new Statement("INSERT INTO t VALUES (1)"), Ct);
    }

    [Fact]
    public async Task Past_the_budget_a_database_keeps_to_one_reader()
    {
        using var directory = new TempDirectory();
        var budget = new OpenFileBudget(OpenFileBudget.PerDatabase);
        await using var registry = new DatabasePoolRegistry(TimeProvider.System, fileBudget: budget);
        var pool = await registry.GetOrOpenAsync("one.db", directory.File("one.db"), new DatabaseOptions { MaxReaders = 4 }, null);

        await using (var first = await pool.AcquireAsync(LeaseKind.Reader, Ct))
        {
            // Queued for the one reader rather than opening another (which would not count as waiting).
            var second = pool.AcquireAsync(LeaseKind.Reader, Ct);
            Assert.Equal(1, pool.GetStatistics().ReaderWaiters);
            await first.DisposeAsync();
            await using var granted = await second;
            Assert.Equal(1, pool.GetStatistics().ReadersOpen);
        }

        // Its first reader went past the limit, up to the ceiling; no other reader opened.
        Assert.Equal(OpenFileBudget.PerDatabase + OpenFileBudget.PerReader, budget.Used);
        Assert.InRange(budget.Used, budget.Limit + 1, budget.Ceiling);
    }

    [Fact]
    public async Task Past_the_budget_a_read_waiting_behind_a_held_reader_opens_another_once_a_database_closes()
    {
        using var directory = new TempDirectory();
        var budget = new OpenFileBudget(2 * OpenFileBudget.PerDatabase);
        await using var registry = new DatabasePoolRegistry(TimeProvider.System, fileBudget: budget);
        var other = await registry.GetOrOpenAsync("other.db", directory.File("other.db"), new DatabaseOptions(), null);
        var pool = await registry.GetOrOpenAsync("held.db", directory.File("held.db"), new DatabaseOptions(), null);
        await using var held = await pool.AcquireAsync(LeaseKind.Reader, Ct);
        var read = pool.QueryAsync(new Statement("SELECT 7"), Ct);
        Assert.Equal(1, pool.GetStatistics().ReaderWaiters);

        // The other database gives its files back; nothing happens in this one, whose reader stays held.
        await other.CloseAsync();

        Assert.Equal(7L, (await read.WaitAsync(TimeSpan.FromSeconds(10), Ct))[0, 0]);
        Assert.Equal(2, pool.GetStatistics().ReadersOpen);
        Assert.Equal(OpenFileBudget.PerDatabase + (2 * OpenFileBudget.PerReader), budget.Used);
    }
}
