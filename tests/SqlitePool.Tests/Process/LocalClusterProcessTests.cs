using System.Text.Json;
using SqlitePool.Tests.Support;

namespace SqlitePool.Tests.Process;

/// <summary>
/// The local-cluster topology as real processes: redis-server for membership and three silo processes with
/// their own data roots. The CLI writes through one gateway; one silo is killed with SIGKILL and restarted.
/// </summary>
public sealed class LocalClusterProcessTests : IAsyncLifetime
{
    private static readonly string[] Nodes = ["node-a", "node-b", "node-c"];
    private readonly TempDirectory _directory = new();
    private readonly string _clusterId = "lc-" + Guid.NewGuid().ToString("N")[..8];
    private readonly int _redisPort = ServerProcess.FreePort();
    private readonly Dictionary<string, (int Silo, int Gateway)> _ports = Nodes.ToDictionary(n => n, _ => (ServerProcess.FreePort(), ServerProcess.FreePort()));
    private readonly Dictionary<string, ServerProcess> _silos = [];
    private ServerProcess? _redis;

    public async ValueTask InitializeAsync()
    {
        if (!ServerProcess.RedisInstalled)
        {
            return;
        }

        _redis = await ServerProcess.StartRedisAsync(_directory.Path, _redisPort);
        var started = await Task.WhenAll(Nodes.Select(StartSiloAsync));
        for (var i = 0; i < Nodes.Length; i++)
        {
            _silos[Nodes[i]] = started[i];
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var silo in _silos.Values)
        {
            await silo.DisposeAsync();
        }

        if (_redis is not null)
        {
            await _redis.DisposeAsync();
        }

        _directory.Dispose();
    }

    [Fact]
    public async Task Killing_a_silo_fails_only_its_databases_and_every_acknowledged_row_survives()
    {
        if (!ServerProcess.RedisInstalled)
        {
            Assert.Skip("redis-server is not installed; tests/run.sh installs it.");
        }

        var acknowledged = Nodes.ToDictionary(n => n, _ => new List<long>());
        await Task.WhenAll(Nodes.Select(n => WriteAsync(n, 20, acknowledged[n], create: true)));
        Assert.All(Nodes, n => Assert.Equal(20, acknowledged[n].Count));

        await _silos["node-b"].KillAsync();
        var refused = await Cli("exec", "node-b:c.db", "INSERT INTO t(v) VALUES ('lost')");
        await Task.WhenAll(WriteAsync("node-a", 10, acknowledged["node-a"]), WriteAsync("node-c", 10, acknowledged["node-c"]));

        Assert.Equal(3, refused.ExitCode);
        Assert.Equal(30, acknowledged["node-a"].Count);
        Assert.Equal(30, acknowledged["node-c"].Count);

        _silos["node-b"] = await StartSiloAsync("node-b");
        foreach (var node in Nodes)
        {
            List<long>? rows = null;
            await ClusterWaits.UntilAsync(async () => (rows = await ReadIdsAsync(node)) is not null, seconds: 60);
            Assert.Equal(acknowledged[node], rows);
            Assert.True(File.Exists(Path.Combine(_directory.Path, node, "data", "c.db")));
        }
    }

    private Task<ServerProcess> StartSiloAsync(string node)
    {
        var dir = Path.Combine(_directory.Path, node);
        Directory.CreateDirectory(dir);
        return ServerProcess.StartSiloAsync(dir,
        [
            "--node", node, "--data-root", Path.Combine(dir, "data"),
            "--silo-port", _ports[node].Silo.ToString(), "--gateway-port", _ports[node].Gateway.ToString(),
            "--cluster-id", _clusterId, "--redis", $"127.0.0.1:{_redisPort}",
            "--Silo:Membership:ProbeTimeout=00:00:01", "--Silo:Membership:NumMissedProbesLimit=2",
            "--Silo:Membership:TableRefreshTimeout=00:00:01",
        ]);
    }

    /// <summary>Writes through node-a's gateway with a piped shell: one JSON line per statement.</summary>
    private async Task WriteAsync(string node, int rows, List<long> acknowledged, bool create = false)
    {
        var lines = Enumerable.Range(0, rows).Select(i => $"INSERT INTO t(v) VALUES ('{node}-{i}')");
        if (create)
        {
            lines = lines.Prepend("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)");
        }

        var result = await Cli(["shell", $"{node}:c.db", "--format", "json"], string.Join('\n', lines) + "\n");
        Assert.Equal(0, result.ExitCode);
        foreach (var line in result.Stdout.Split('\n').Skip(create ? 1 : 0))
        {
            using var json = JsonDocument.Parse(line);
            if (json.RootElement.TryGetProperty("changes", out var changes) && changes.GetInt64() == 1)
            {
                acknowledged.Add(json.RootElement.GetProperty("lastInsertRowId").GetInt64());
            }
        }
    }

    private async Task<List<long>?> ReadIdsAsync(string node)
    {
        var result = await Cli("query", $"{node}:c.db", "SELECT id FROM t ORDER BY id", "--format", "json");
        if (result.ExitCode == 3)
        {
            return null; // membership has not caught up with the restart yet
        }

        Assert.Equal(0, result.ExitCode);
        using var json = JsonDocument.Parse(result.Stdout);
        return [.. json.RootElement.EnumerateArray().Select(r => r.GetProperty("id").GetInt64())];
    }

    private Task<CliResult> Cli(params string[] args) => Cli(args, null);

    private Task<CliResult> Cli(string[] args, string? input) =>
        ProcessRunner.RunCliAsync([.. args, "--gateway", $"127.0.0.1:{_ports["node-a"].Gateway}", "--cluster-id", _clusterId], input);
}
