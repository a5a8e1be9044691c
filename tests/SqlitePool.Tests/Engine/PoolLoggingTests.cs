using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;
using SqlitePool.Tests.Support;

namespace SqlitePool.Tests.Engine;

/// <summary>The engine logs expiries and timeouts with their event ids.</summary>
public sealed class PoolLoggingTests : PoolTestBase
{
    [Fact]
    public async Task An_acquire_timeout_and_a_lease_expiry_are_logged_with_their_event_ids()
    {
        var time = new FakeTimeProvider();
        var pool = await OpenAsync(o => (o.AcquireTimeout, o.LeaseIdleTimeout) = (TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(10)), time);
        var log = new ListLogger();
        pool.Logger = log;
        var lease = await pool.AcquireAsync(LeaseKind.Writer, Ct);

        var waiting = pool.ExecuteAsync(new Statement("CREATE TABLE t(v)"), Ct);
        time.Advance(TimeSpan.FromSeconds(3));
        await Assert.ThrowsAsync<DatabaseTimeoutException>(() => waiting);
        time.Advance(TimeSpan.FromSeconds(10));
        await ClusterWaits.UntilAsync(() => Task.FromResult(pool.GetStatistics().ExpiredLeases == 1));

        var timedOut = Assert.Single(log.Entries, e => e.Id == SqlitePoolEventIds.AcquireTimedOut);
        Assert.Equal(LogLevel.Warning, timedOut.Level);
        Assert.Contains("test.db", timedOut.Message, StringComparison.Ordinal);
        var expired = Assert.Single(log.Entries, e => e.Id == SqlitePoolEventIds.LeaseExpired);
        Assert.Contains(lease.Id.ToString(), expired.Message, StringComparison.Ordinal);
        Assert.Contains("LeaseIdleTimeout", expired.Message, StringComparison.Ordinal);
    }

    private sealed class ListLogger : ILogger
    {
        private readonly List<(int Id, LogLevel Level, string Message)> _entries = [];

        public IReadOnlyList<(int Id, LogLevel Level, string Message)> Entries
        {
            get
            {
                lock (_entries)
                {
                    return [.. _entries];
                }
            }
        }

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            lock (_entries)
            {
                _entries.Add((eventId.Id, logLevel, formatter(state, exception)));
            }
        }
    }
}
