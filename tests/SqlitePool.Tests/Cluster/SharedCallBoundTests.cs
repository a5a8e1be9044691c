using Microsoft.Extensions.DependencyInjection;
using Orleans.Configuration;
using SqlitePool.Client;
using SqlitePool.Hosting;
using SqlitePool.Tests.Support;

namespace SqlitePool.Tests.Cluster;

/// <summary>
/// Statements that wait in the client for a shared call are bounded: at most <c>CallCoalescer.MaxWaiting</c> wait
/// per database and kind, and none waits longer than the client's response timeout without a typed error.
/// </summary>
public sealed class SharedCallBoundTests : IAsyncLifetime
{
    private static readonly TimeSpan ResponseTimeout = TimeSpan.FromSeconds(2);
    private readonly OneSiloCluster _cluster = new();

    [Fact]
    public async Task A_statement_waiting_behind_stuck_calls_gets_a_typed_timeout_within_the_response_timeout()
    {
        var (db, reader) = await StuckAsync();
        List<Task<QueryResult>> stuck = [];
        try
        {
            stuck.AddRange(Enumerable.Range(0, CallCoalescer<QueryResult>.MaxCallsInFlight).Select(_ => db.QueryAsync("SELECT 1")));

            var waiting = db.QueryAsync("SELECT 2");
            var error = await Assert.ThrowsAsync<DatabaseTimeoutException>(() => waiting.WaitAsync(ResponseTimeout * 10, TestContext.Current.CancellationToken));

            Assert.Equal(ResponseTimeout, error.Limit);
        }
        finally
        {
            reader.Dispose();
            await Task.WhenAll(stuck.Select(s => s.ContinueWith(_ => { }, TaskScheduler.Default)));
        }

        Assert.Equal(3L, await db.QuerySingleAsync<long>("SELECT 3"));
    }

    [Fact]
    public async Task Past_its_capacity_a_statement_goes_alone_to_the_silos_bounded_queue()
    {
        var (db, reader) = await StuckAsync();
        List<Task<QueryResult>> calls = [];
        try
        {
            calls.AddRange(Enumerable.Range(0, CallCoalescer<QueryResult>.MaxCallsInFlight).Select(_ => db.QueryAsync("SELECT 1")));
            await WaitForReaderWaitersAsync(db, CallCoalescer<QueryResult>.MaxCallsInFlight);
            calls.AddRange(Enumerable.Range(0, CallCoalescer<QueryResult>.MaxWaiting).Select(_ => db.QueryAsync("SELECT 2")));

            var extra = db.QueryAsync("SELECT 3");

            // The waiting statements stay in this process; the one past the capacity reaches the silo's reader queue.
            await WaitForReaderWaitersAsync(db, CallCoalescer<QueryResult>.MaxCallsInFlight + 1);
            reader.Dispose();
            Assert.Equal(3L, (await extra.WaitAsync(ResponseTimeout * 10, TestContext.Current.CancellationToken))[0, 0]);
        }
        finally
        {
            reader.Dispose();
            await Task.WhenAll(calls.Select(s => s.ContinueWith(_ => { }, TaskScheduler.Default)));
        }
    }

    [Fact]
    public async Task A_write_that_timed_out_before_it_was_sent_is_never_sent()
    {
        var path = $"bound/{Guid.NewGuid():N}.db";
        var db = _cluster.Client.GetDatabase("local", path);
        await db.ExecuteAsync("CREATE TABLE t(v INTEGER)");
        var silo = _cluster.SiloServices;
        var writer = (await silo.GetRequiredService<LocalDatabases>().OpenLocalAsync(path)).AcquireWriter();
        List<Task<ExecuteResult>> writes = [];
        try
        {
            // Far more writes than the calls in flight can carry before their callers' time is up.
            writes.AddRange(Enumerable.Range(0, 4000).Select(i => db.ExecuteAsync("INSERT INTO t VALUES (?)", (long)i)));
            await Task.WhenAll(writes.Select(w => w.ContinueWith(_ => { }, TaskScheduler.Default))).WaitAsync(ResponseTimeout * 10, TestContext.Current.CancellationToken);
        }
        finally
        {
            writer.Dispose();
        }

        var unsent = writes.Select((w, i) => (Value: (long)i, w.Exception?.InnerException))
            .Where(w => w.InnerException is DatabaseTimeoutException e && e.Message.Contains("not sent", StringComparison.Ordinal))
            .Select(w => w.Value).ToHashSet();
        Assert.NotEmpty(unsent);

        // The writes that were sent commit once the writer is free; none of the unsent ones ever does.
        var sent = writes.Count - unsent.Count;
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        limit.CancelAfter(ResponseTimeout * 10);
        while (await db.QuerySingleAsync<long>("SELECT count(*) FROM t") < sent)
        {
            await Task.Delay(50, limit.Token);
        }

        var stored = (await db.QueryAsync<long>("SELECT v FROM t")).ToHashSet();
        Assert.Empty(stored.Intersect(unsent));
    }

    private static async Task WaitForReaderWaitersAsync(SqliteDatabase db, int count)
    {
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        limit.CancelAfter(ResponseTimeout);
        while ((await db.GetStatisticsAsync()).ReaderWaiters < count)
        {
            await Task.Delay(10, limit.Token);
        }
    }

    public async ValueTask InitializeAsync() => await _cluster.StartAsync(
        o => o.MaxReaders = 1,
        client: client => client.Configure<ClientMessagingOptions>(o => o.ResponseTimeout = ResponseTimeout));

    public ValueTask DisposeAsync() => _cluster.DisposeAsync();

    /// <summary>A database whose only reader is held on the silo, so every read call waits there.</summary>
    private async Task<(SqliteDatabase Db, IDisposable Reader)> StuckAsync()
    {
        var path = $"bound/{Guid.NewGuid():N}.db";
        var silo = _cluster.SiloServices;
        var local = await silo.GetRequiredService<LocalDatabases>().OpenLocalAsync(path);
        return (_cluster.Client.GetDatabase("local", path), local.AcquireReader());
    }
}
