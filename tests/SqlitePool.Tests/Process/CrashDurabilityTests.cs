using System.Collections.Concurrent;
using SqlitePool.Client;
using SqlitePool.Tests.Support;

namespace SqlitePool.Tests.Process;

/// <summary>Invariant 5: an acknowledged write survives a crash of the silo process, and a write is all or nothing.</summary>
public sealed class CrashDurabilityTests
{
    private const int Callers = 64;
    private const int Crashes = 10;

    [Fact]
    public async Task Acknowledged_writes_survive_repeated_sigkill_under_a_64_caller_write_load()
    {
        using var directory = new TempDirectory();
        var (siloPort, gatewayPort) = (ServerProcess.FreePort(), ServerProcess.FreePort());
        var clusterId = "crash-" + Guid.NewGuid().ToString("N")[..8];
        var seed = Environment.TickCount;
        var random = new Random(seed);
        var acknowledged = new ConcurrentBag<long>();
        long nextId = 0;

        for (var round = 0; round <= Crashes; round++)
        {
            await using var silo = await ServerProcess.StartSiloAsync(directory.Path,
                ["--gateway-port", gatewayPort.ToString(), "--silo-port", siloPort.ToString(), "--cluster-id", clusterId]);
            using var client = await GatewayClient.ConnectAsync(gatewayPort, clusterId);
            var db = client.Client.GetDatabase("local", "crash.db");
            if (round == 0)
            {
                await db.ExecuteBatchAsync("CREATE TABLE a(id INTEGER PRIMARY KEY)", "CREATE TABLE b(id INTEGER PRIMARY KEY)");
            }

            // After every restart: all acknowledged writes are there, none half-applied, and the file is sound.
            var inA = (await db.QueryAsync<long>("SELECT id FROM a")).ToHashSet();
            var inB = (await db.QueryAsync<long>("SELECT id FROM b")).ToHashSet();
            Assert.DoesNotContain(acknowledged, id => !inA.Contains(id));
            Assert.True(inA.SetEquals(inB), $"a write was half-applied (seed {seed}, round {round})");
            Assert.Equal("ok", await db.QuerySingleAsync<string>("PRAGMA integrity_check"));
            if (round == Crashes)
            {
                Assert.True(acknowledged.Count > Crashes * Callers, $"only {acknowledged.Count} writes were acknowledged");
                TestContext.Current.TestOutputHelper?.WriteLine($"{Crashes} kills, {acknowledged.Count} acknowledged batches all present, {inA.Count} committed (seed {seed})");
                return;
            }

            using var stop = new CancellationTokenSource();
            var load = Enumerable.Range(0, Callers).Select(_ => Task.Run(async () =>
            {
                while (!stop.IsCancellationRequested)
                {
                    var id = Interlocked.Increment(ref nextId);
                    try
                    {
                        // Two rows in one transaction: after a crash both exist or neither does.
                        await db.ExecuteBatchAsync([new Statement("INSERT INTO a(id) VALUES (?)", id), new Statement("INSERT INTO b(id) VALUES (?)", id)], stop.Token);
                        acknowledged.Add(id);
                    }
                    catch (Exception) when (stop.IsCancellationRequested)
                    {
                        return;
                    }
                }
            })).ToArray();

            // Let the load reach a random point, then kill the silo with no chance to flush or close.
            // Calls in flight at the kill are cancelled: they were never acknowledged.
            var target = acknowledged.Count + Callers + random.Next(Callers * 10);
            await ClusterWaits.UntilAsync(() => Task.FromResult(acknowledged.Count >= target), seconds: 60);
            await silo.KillAsync();
            await stop.CancelAsync();
            await Task.WhenAll(load);
        }
    }
}
