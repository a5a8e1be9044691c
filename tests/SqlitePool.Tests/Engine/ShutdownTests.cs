using Microsoft.Extensions.Logging;
using SqlitePool.Engine;
using SqlitePool.Hosting;
using SqlitePool.Tests.Support;

namespace SqlitePool.Tests.Engine;

public sealed class ShutdownTests
{
    [Fact]
    public async Task Stopping_with_many_open_databases_closes_each_cleanly_and_logs_progress()
    {
        using var directory = new TempDirectory();
        var logs = new ListLoggerProvider();
        using var loggers = LoggerFactory.Create(b => b.AddProvider(logs).SetMinimumLevel(LogLevel.Information));
        var registry = new DatabasePoolRegistry(TimeProvider.System, loggers: loggers);
        const int count = 300;
        await Parallel.ForEachAsync(Enumerable.Range(0, count), TestContext.Current.CancellationToken, async (i, ct) =>
        {
            var pool = await registry.GetOrOpenAsync($"s{i}.db", directory.File($"s{i}.db"), new DatabaseOptions(), null);
            await pool.ExecuteAsync(new Statement("CREATE TABLE t(v)"), ct);
            await pool.ExecuteAsync(new Statement("INSERT INTO t VALUES (?)", i), ct);
        });
        Assert.All(Enumerable.Range(0, count), i => Assert.True(new FileInfo(directory.File($"s{i}.db-wal")).Length > 0));

        await registry.DisposeAsync();

        Assert.Empty(registry.OpenPools);
        foreach (var i in Enumerable.Range(0, count))
        {
            // Checkpointed into the file (the log emptied or gone), and the lock file released.
            var wal = new FileInfo(directory.File($"s{i}.db-wal"));
            Assert.True(!wal.Exists || wal.Length == 0, $"s{i}.db-wal is not empty");
            using var fence = new FileStream(directory.File($"s{i}.db.lock"), FileMode.Open, FileAccess.ReadWrite, FileShare.None);
        }

        Assert.Contains(logs.Messages, m => m.StartsWith($"Stopping: {count} of {count} databases closed", StringComparison.Ordinal));
    }

    private sealed class ListLoggerProvider : ILoggerProvider
    {
        public List<string> Messages { get; } = [];

        public ILogger CreateLogger(string categoryName) => new ListLogger(this);

        public void Dispose()
        {
        }

        private sealed class ListLogger(ListLoggerProvider provider) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state)
                where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => true;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            {
                lock (provider.Messages)
                {
                    provider.Messages.Add(formatter(state, exception));
                }
            }
        }
    }
}
