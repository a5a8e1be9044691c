using SqlitePool.Engine;
using SqlitePool.Hosting;
using SqlitePool.Tests.Support;

namespace SqlitePool.Tests.Engine;

public sealed class RegistryTests
{
    [Fact]
    public async Task The_open_hook_runs_once_when_50_openers_race()
    {
        using var directory = new TempDirectory();
        await using var registry = new DatabasePoolRegistry(TimeProvider.System);
        var runs = 0;
        void Hook(DatabaseOpenContext context)
        {
            Interlocked.Increment(ref runs);
            using var command = context.Connection.CreateCommand();
            command.CommandText = "CREATE TABLE IF NOT EXISTS t(v)";
            command.ExecuteNonQuery();
        }

        var path = directory.File("race.db");
        var pools = await Task.WhenAll(Enumerable.Range(0, 50).Select(_ =>
            Task.Run(() => registry.GetOrOpenAsync("race.db", path, new DatabaseOptions(), Hook), TestContext.Current.CancellationToken)));

        Assert.Equal(1, runs);
        Assert.Single(pools.Distinct());
        await pools[0].CloseAsync();
        var reopened = await registry.GetOrOpenAsync("race.db", path, new DatabaseOptions(), Hook);
        Assert.NotSame(pools[0], reopened);
        Assert.Equal(2, runs);
    }

    [Fact]
    public async Task A_failing_open_hook_fails_the_open_and_the_next_open_retries()
    {
        using var directory = new TempDirectory();
        await using var registry = new DatabasePoolRegistry(TimeProvider.System);
        var attempts = 0;
        void Hook(DatabaseOpenContext context)
        {
            if (Interlocked.Increment(ref attempts) == 1)
            {
                throw new InvalidOperationException("schema broken");
            }
        }

        var path = directory.File("hook.db");
        var error = await Assert.ThrowsAsync<SqlitePoolException>(() => registry.GetOrOpenAsync("hook.db", path, new DatabaseOptions(), Hook));
        var pool = await registry.GetOrOpenAsync("hook.db", path, new DatabaseOptions(), Hook);

        Assert.Contains("schema broken", error.Message, StringComparison.Ordinal);
        Assert.Equal(2, attempts);
        Assert.Equal(1L, (await pool.QueryAsync(new Statement("SELECT 1"), TestContext.Current.CancellationToken))[0, 0]);
    }
}

public sealed class FenceTests : PoolTestBase
{
    [Fact]
    public async Task A_second_opener_of_the_same_file_fails_loudly_until_the_first_closes()
    {
        var first = await OpenAsync(name: "fenced.db");
        await first.ExecuteAsync(new Statement("CREATE TABLE t(v)"), Ct);

        var error = await Assert.ThrowsAsync<DatabaseLockedException>(() => SqlitePool.Engine.DatabasePool.OpenAsync("second", first.Path, new()));
        await first.ExecuteAsync(new Statement("INSERT INTO t VALUES (1)"), Ct);
        await first.CloseAsync();
        await using var second = await SqlitePool.Engine.DatabasePool.OpenAsync("second", first.Path, new());

        Assert.Equal(first.Path + ".lock", error.LockFile);
        Assert.Contains("another activation or process", error.Message, StringComparison.Ordinal);
        Assert.Equal(1L, (await second.QueryAsync(new Statement("SELECT count(*) FROM t"), Ct))[0, 0]);
    }
}
