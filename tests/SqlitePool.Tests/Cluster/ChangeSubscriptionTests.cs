using System.Collections.Concurrent;
using SqlitePool.Tests.Support;

namespace SqlitePool.Tests.Cluster;

/// <summary>Change notifications to a client process through <c>SqliteDatabase.SubscribeAsync</c>.</summary>
[Collection(ClusterCollection.Name)]
public sealed class ChangeSubscriptionTests(ClusterFixture cluster)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_client_hears_of_committed_tables_until_it_disposes_its_subscription()
    {
        var db = cluster.NewDatabase("changes");
        await db.ExecuteBatchAsync([new Statement("CREATE TABLE a(v)"), new Statement("CREATE TABLE b(v)"), new Statement("CREATE TABLE c(v)")], Ct);
        var heard = new ConcurrentQueue<TablesChanged>();
        var subscription = await db.SubscribeAsync(heard.Enqueue);

        await db.ExecuteAsync("INSERT INTO a VALUES (1)");
        await Assert.ThrowsAsync<InvalidOperationException>(() => db.TransactionAsync(async tx =>
        {
            await tx.ExecuteAsync("INSERT INTO b VALUES (1)");
            throw new InvalidOperationException("rolled back");
        }, Ct));
        await ClusterWaits.UntilAsync(() => Task.FromResult(!heard.IsEmpty));
        await subscription.DisposeAsync();
        // A second subscriber hears the next write: by then the first would have too, had it stayed subscribed.
        var later = new ConcurrentQueue<TablesChanged>();
        await using (await db.SubscribeAsync(later.Enqueue))
        {
            await db.ExecuteAsync("INSERT INTO c VALUES (1)");
            await ClusterWaits.UntilAsync(() => Task.FromResult(!later.IsEmpty));
        }

        Assert.Equal(["c"], Assert.Single(later).Tables);

        var change = Assert.Single(heard);
        Assert.Equal(db.Id.GrainKey, change.Database);
        Assert.Equal(["a"], change.Tables);
    }
}
