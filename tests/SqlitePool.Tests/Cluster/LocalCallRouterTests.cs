using Microsoft.Extensions.Time.Testing;
using SqlitePool.Engine;
using SqlitePool.Hosting;
using SqlitePool.Tests.Support;

namespace SqlitePool.Tests.Cluster;

/// <summary>Local calls find open pools only, and send one call in every quarter of the collection age through the
/// grain, so that an activation used only by local calls is not collected under them.</summary>
public sealed class LocalCallRouterTests
{
    [Fact]
    public async Task A_local_call_goes_through_the_grain_once_in_every_quarter_of_the_collection_age()
    {
        using var directory = new TempDirectory();
        var time = new FakeTimeProvider();
        await using var registry = new DatabasePoolRegistry(time);
        var router = new LocalCallRouter("local", directory.Path, registry, TimeSpan.FromMinutes(2), time);
        var id = new DatabaseId("local", "a.db");
        Assert.Null(router.Open(router.NameOf(id)));

        var pool = await registry.GetOrOpenAsync(id.GrainKey, directory.File("a.db"), new DatabaseOptions(), null);
        var route = router.Open(router.NameOf(id));
        Assert.Same(pool, route!.Pool);
        Assert.Same(route, router.Open(router.NameOf(id)));
        Assert.True(router.TouchDue(route), "a pool's first local call goes through the grain");
        Assert.False(router.TouchDue(route));

        time.Advance(TimeSpan.FromSeconds(29));
        Assert.False(router.TouchDue(route));
        time.Advance(TimeSpan.FromSeconds(2));
        Assert.True(router.TouchDue(route));
        Assert.False(router.TouchDue(route));
        time.Advance(TimeSpan.FromSeconds(31));
        Assert.True(router.TouchDue(route));

        await pool.CloseAsync();
        Assert.Null(router.Open(router.NameOf(id)));
    }

    // The activation's idle clock started when the grain opened the pool; a route's starts at its first local call.
    [Fact]
    public async Task The_first_local_call_late_in_the_activations_age_goes_through_the_grain()
    {
        using var directory = new TempDirectory();
        var time = new FakeTimeProvider();
        await using var registry = new DatabasePoolRegistry(time);
        var router = new LocalCallRouter("local", directory.Path, registry, TimeSpan.FromMinutes(2), time);
        var id = new DatabaseId("local", "a.db");
        var pool = await registry.GetOrOpenAsync(id.GrainKey, directory.File("a.db"), new DatabaseOptions { DatabaseIdleTimeout = TimeSpan.FromHours(1) }, null);
        time.Advance(TimeSpan.FromSeconds(100));
        var route = router.Open(router.NameOf(id))!;
        Assert.True(router.TouchDue(route), "100 s after the grain's last message, 20 s before it may be collected");
        Assert.False(router.TouchDue(route));
        await pool.CloseAsync();
    }

    [Fact]
    public async Task Another_nodes_database_has_no_local_calls()
    {
        using var directory = new TempDirectory();
        await using var registry = new DatabasePoolRegistry(TimeProvider.System);
        var router = new LocalCallRouter("local", directory.Path, registry, TimeSpan.FromMinutes(2), TimeProvider.System);
        Assert.Null(router.Find(new DatabaseId("node-b", "a.db"), null!));
    }
}
