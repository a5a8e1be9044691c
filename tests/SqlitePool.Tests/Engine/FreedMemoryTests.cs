using SqlitePool.Engine;
using SqlitePool.Hosting;
using SqlitePool.Tests.Support;

namespace SqlitePool.Tests.Engine;

/// <summary>Memory that closed connections freed goes back to the operating system (glibc's malloc_trim).</summary>
public sealed class FreedMemoryTests
{
    [Fact]
    public async Task Closing_many_connections_gives_their_memory_back()
    {
        Assert.SkipUnless(OperatingSystem.IsLinux(), "malloc_trim is glibc's");
        using var directory = new TempDirectory();
        await using var registry = new DatabasePoolRegistry(TimeProvider.System);
        var before = FreedMemory.Trims;

        var pools = await Task.WhenAll(Enumerable.Range(0, 20).Select(i =>
            registry.GetOrOpenAsync($"m{i}.db", directory.File($"m{i}.db"), new DatabaseOptions(), null)));
        foreach (var pool in pools)
        {
            await pool.QueryAsync(new Statement("SELECT 1"), TestContext.Current.CancellationToken); // a reader too
            await pool.CloseAsync();
        }

        await ClusterWaits.UntilAsync(() => Task.FromResult(FreedMemory.Trims > before));
    }
}
