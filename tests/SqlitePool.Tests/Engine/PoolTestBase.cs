using SqlitePool.Engine;
using SqlitePool.Hosting;
using SqlitePool.Tests.Support;

namespace SqlitePool.Tests.Engine;

/// <summary>Opens pools on real SQLite files in a temp directory and closes them after each test.</summary>
public abstract class PoolTestBase : IAsyncLifetime
{
    private readonly List<DatabasePool> _pools = [];

    protected TempDirectory Directory { get; } = new();

    protected static CancellationToken Ct => TestContext.Current.CancellationToken;

    protected async Task<DatabasePool> OpenAsync(Action<DatabaseOptions>? configure = null, TimeProvider? time = null, string name = "test.db")
    {
        var options = new DatabaseOptions();
        configure?.Invoke(options);
        var pool = await DatabasePool.OpenAsync(name, Directory.File(name), options, time);
        _pools.Add(pool);
        return pool;
    }

    /// <summary>A pool whose table <c>t(id, v)</c> holds one row, ('a').</summary>
    protected async Task<DatabasePool> OpenWithRowAsync(Action<DatabaseOptions>? configure = null)
    {
        var pool = await OpenAsync(configure);
        await pool.ExecuteAsync(new Statement("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)"), Ct);
        await pool.ExecuteAsync(new Statement("INSERT INTO t(v) VALUES ('a')"), Ct);
        return pool;
    }

    protected static async Task<long> CountAsync(DatabasePool pool, string table = "t") =>
        (long)(await pool.QueryAsync(new Statement($"SELECT count(*) FROM {table}"), Ct))[0, 0]!;

    public ValueTask InitializeAsync() => ValueTask.CompletedTask;

    public async ValueTask DisposeAsync()
    {
        // Bounded, so a pool that cannot drain fails its test instead of hanging the run.
        foreach (var pool in _pools)
        {
            await pool.CloseAsync().WaitAsync(TimeSpan.FromSeconds(30));
        }

        Directory.Dispose();
        GC.SuppressFinalize(this);
    }
}
