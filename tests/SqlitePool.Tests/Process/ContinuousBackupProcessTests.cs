using System.Collections.Concurrent;
using SqlitePool.Client;
using SqlitePool.Tests.Support;

namespace SqlitePool.Tests.Process;

/// <summary>
/// Issue 16's disk loss: a silo process under a 64-writer load is killed with SIGKILL and its data directory deleted; a
/// fresh silo with <c>--auto-restore</c> serves the database from its continuous backup, in a directory or in Azure Blob
/// Storage (Azurite). With <c>--ack-after-backup</c> every acknowledged write is there; without it, every write
/// acknowledged more than the backup interval and a second before the kill.
/// </summary>
public sealed class ContinuousBackupProcessTests(Backup.AzuriteFixture azurite) : IClassFixture<Backup.AzuriteFixture>, IDisposable
{
    private const int Callers = 64;
    private static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(500);
    private readonly TempDirectory _directory = new();

    [Theory]
    [InlineData("directory", false)]
    [InlineData("directory", true)]
    [InlineData("azure", false)]
    [InlineData("azure", true)]
    public async Task A_fresh_silo_restores_the_lost_database_with_every_write_the_guarantee_covers(string target, bool ackAfterBackup)
    {
        var azure = target == "azure" ? azurite.ConnectionString : null;
        var (siloPort, gatewayPort) = (ServerProcess.FreePort(), ServerProcess.FreePort());
        var clusterId = "disk-" + Guid.NewGuid().ToString("N")[..8];
        List<string> args =
        [
            "--gateway-port", gatewayPort.ToString(), "--silo-port", siloPort.ToString(), "--cluster-id", clusterId, "--data-root", "data",
            .. target == "directory"
                ? new[] { "--backup-dir", _directory.File("backup") }
                : ["--backup-azure", azure!, "--backup-container", clusterId],
            "--backup-interval", Interval.TotalSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture), "--auto-restore",
            .. ackAfterBackup ? new[] { "--ack-after-backup" } : [],
        ];
        var workDirectory = _directory.File(clusterId);
        System.IO.Directory.CreateDirectory(workDirectory);

        var acknowledged = new ConcurrentBag<(long Id, DateTimeOffset At)>();
        DateTimeOffset killedAt;
        await using (var silo = await ServerProcess.StartSiloAsync(workDirectory, args))
        {
            using var client = await GatewayClient.ConnectAsync(gatewayPort, clusterId);
            var db = client.Client.GetDatabase("local", "tenant.db");
            await db.ExecuteAsync("CREATE TABLE t(id INTEGER PRIMARY KEY, v)");
            long nextId = 0;
            using var stop = new CancellationTokenSource();
            var load = Enumerable.Range(0, Callers).Select(_ => Task.Run(async () =>
            {
                while (!stop.IsCancellationRequested)
                {
                    var id = Interlocked.Increment(ref nextId);
                    try
                    {
                        await db.ExecuteAsync(new Statement("INSERT INTO t(id, v) VALUES (?, randomblob(100))", id), stop.Token);
                        acknowledged.Add((id, DateTimeOffset.UtcNow));
                    }
                    catch (Exception) when (stop.IsCancellationRequested)
                    {
                        return;
                    }
                }
            })).ToArray();

            await Task.Delay(TimeSpan.FromSeconds(4), TestContext.Current.CancellationToken);
            await silo.KillAsync();
            killedAt = DateTimeOffset.UtcNow;
            await stop.CancelAsync();
            await Task.WhenAll(load);
        }

        System.IO.Directory.Delete(Path.Combine(workDirectory, "data"), recursive: true);

        await using (var fresh = await ServerProcess.StartSiloAsync(workDirectory, args))
        {
            using var client = await GatewayClient.ConnectAsync(gatewayPort, clusterId);
            var db = client.Client.GetDatabase("local", "tenant.db");
            var present = (await db.QueryAsync<long>("SELECT id FROM t")).ToHashSet();
            Assert.Equal("ok", await db.QuerySingleAsync<string>("PRAGMA integrity_check"));
            var covered = ackAfterBackup ? acknowledged.ToList() : [.. acknowledged.Where(a => a.At < killedAt - Interval - TimeSpan.FromSeconds(1))];
            Assert.True(covered.Count > Callers, $"only {covered.Count} writes are covered by the guarantee");
            var missing = covered.Where(a => !present.Contains(a.Id)).ToList();
            Assert.True(missing.Count == 0, $"{missing.Count} of {covered.Count} covered writes are missing, e.g. {string.Join(", ", missing.Take(5))}\n{fresh.Log}");
            Assert.Contains(fresh.Log.Split('\n'), line => line.Contains("was missing and was restored from its backup", StringComparison.Ordinal));

            // And it goes on: a new write is served and shipped.
            await db.ExecuteAsync("INSERT INTO t(v) VALUES ('after')");
            TestContext.Current.TestOutputHelper?.WriteLine($"{target}, ack {ackAfterBackup}: {acknowledged.Count} acknowledged, {covered.Count} covered, {present.Count} restored");
        }
    }

    [Fact]
    public async Task A_target_that_fails_shows_in_stats_health_and_the_databases_json_and_shipping_resumes()
    {
        var (siloPort, gatewayPort, httpPort) = (ServerProcess.FreePort(), ServerProcess.FreePort(), ServerProcess.FreePort());
        var clusterId = "fault-" + Guid.NewGuid().ToString("N")[..8];
        var backup = _directory.File("fault-backup");
        await using var silo = await ServerProcess.StartSiloAsync(_directory.Path,
            ["--gateway-port", gatewayPort.ToString(), "--silo-port", siloPort.ToString(), "--cluster-id", clusterId, "--http-port", httpPort.ToString(),
             "--data-root", "fault-data", "--backup-dir", backup, "--backup-interval", "0.2"]);
        using var client = await GatewayClient.ConnectAsync(gatewayPort, clusterId);
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{httpPort}") };
        var db = client.Client.GetDatabase("local", "fault.db");
        await db.ExecuteAsync("CREATE TABLE t(v)");
        var first = await db.ExecuteAsync("INSERT INTO t VALUES (1)");
        await ClusterWaits.UntilAsync(async () => (await db.GetStatisticsAsync()).Backup?.TransactionId == first.TransactionId, seconds: 30);
        var stats = await ProcessRunner.RunCliAsync(["--gateway", $"127.0.0.1:{gatewayPort}", "--cluster-id", clusterId, "stats", "fault.db"]);
        Assert.Contains($"\"txid\": {first.TransactionId}", stats.Stdout, StringComparison.Ordinal);
        Assert.Contains("\"lagSeconds\"", stats.Stdout, StringComparison.Ordinal);

        // The target's folder replaced by a file: nothing can be stored, writes go on.
        System.IO.Directory.Move(backup, backup + "-away");
        await File.WriteAllTextAsync(backup, "in the way", TestContext.Current.CancellationToken);
        var second = await db.ExecuteAsync("INSERT INTO t VALUES (2)");
        await ClusterWaits.UntilAsync(async () => (await HealthAsync(http)).Contains("is not backed up", StringComparison.Ordinal), seconds: 30);
        Assert.Contains("\"Degraded\"", await HealthAsync(http), StringComparison.Ordinal);
        var listed = await http.GetStringAsync("/api/databases", TestContext.Current.CancellationToken);
        Assert.Contains("\"error\":\"", listed.Replace(" ", "", StringComparison.Ordinal), StringComparison.Ordinal);

        File.Delete(backup);
        System.IO.Directory.Move(backup + "-away", backup);
        await ClusterWaits.UntilAsync(async () => (await db.GetStatisticsAsync()).Backup is { Error: null } b && b.TransactionId >= second.TransactionId, seconds: 30);
        await ClusterWaits.UntilAsync(async () => (await HealthAsync(http)).Contains("\"Healthy\"", StringComparison.Ordinal), seconds: 30);
        // The console logger writes a moment after the statistics change.
        await ClusterWaits.UntilAsync(() => Task.FromResult(silo.Log.Contains("resumed after failing", StringComparison.Ordinal)), seconds: 30);
    }

    [Fact]
    public async Task The_cli_restores_a_backup_to_a_transaction_and_to_a_time_into_a_new_database_served_at_once()
    {
        var (siloPort, gatewayPort) = (ServerProcess.FreePort(), ServerProcess.FreePort());
        var clusterId = "cli-" + Guid.NewGuid().ToString("N")[..8];
        await using var silo = await ServerProcess.StartSiloAsync(_directory.Path,
            ["--gateway-port", gatewayPort.ToString(), "--silo-port", siloPort.ToString(), "--cluster-id", clusterId,
             "--data-root", "cli-data", "--backup-dir", _directory.File("cli-backup"), "--backup-interval", "0.2"]);
        string[] cluster = ["--gateway", $"127.0.0.1:{gatewayPort}", "--cluster-id", clusterId];
        async Task<string> Cli(params string[] args)
        {
            var result = await ProcessRunner.RunCliAsync([.. cluster, .. args]);
            Assert.True(result.ExitCode == 0, $"sqlitepool {string.Join(' ', args)}: exit {result.ExitCode}\n{result.Stderr}");
            return result.Stdout.Trim();
        }

        static long Txid(string json) => System.Text.Json.JsonDocument.Parse(json).RootElement.GetProperty("txid").GetInt64();

        await Cli("exec", "shop.db", "CREATE TABLE t(v)");
        var first = Txid(await Cli("exec", "shop.db", "INSERT INTO t VALUES ('first')"));
        await Task.Delay(50, TestContext.Current.CancellationToken);
        var between = DateTimeOffset.UtcNow;
        await Task.Delay(50, TestContext.Current.CancellationToken);
        var second = Txid(await Cli("exec", "shop.db", "INSERT INTO t VALUES ('second')"));
        Assert.Equal(first + 1, second);
        using (var client = await GatewayClient.ConnectAsync(gatewayPort, clusterId))
        {
            var db = client.Client.GetDatabase("local", "shop.db");
            await ClusterWaits.UntilAsync(async () => (await db.GetStatisticsAsync()).Backup?.TransactionId >= second, seconds: 30);
        }

        Assert.Contains("\"txid\": " + second, await Cli("stats", "shop.db"), StringComparison.Ordinal);

        var byId = System.Text.Json.JsonDocument.Parse(await Cli("restore", "--from-backup", "shop.db", "--txid", first.ToString(), "shop-at-first.db")).RootElement;
        Assert.Equal(first, byId.GetProperty("txid").GetInt64());
        Assert.Equal("local/shop-at-first.db", byId.GetProperty("destination").GetString());
        Assert.Equal("first", (await Cli("query", "shop-at-first.db", "SELECT group_concat(v) FROM t", "--format", "csv")).Split('\n')[^1].Trim());

        await Cli("restore", "--from-backup", "shop.db", "--at", between.ToString("O"), "shop-between.db");
        Assert.Equal("first", (await Cli("query", "shop-between.db", "SELECT group_concat(v) FROM t", "--format", "csv")).Split('\n')[^1].Trim());
        await Cli("restore", "--from-backup", "shop.db", "shop-latest.db");
        Assert.Equal("first,second", (await Cli("query", "shop-latest.db", "SELECT group_concat(v) FROM t", "--format", "csv")).Split('\n')[^1].Trim().Trim('"'));

        // A name that exists is refused, and so is a point with no snapshot before it.
        var exists = await ProcessRunner.RunCliAsync([.. cluster, "restore", "--from-backup", "shop.db", "shop-latest.db"]);
        Assert.Equal(1, exists.ExitCode);
        var usage = await ProcessRunner.RunCliAsync([.. cluster, "restore", "--from-backup", "shop.db", "--txid", "1", "--at", between.ToString("O"), "x.db"]);
        Assert.Equal(2, usage.ExitCode);
    }

    private static async Task<string> HealthAsync(HttpClient http)
    {
        using var response = await http.GetAsync("/health", TestContext.Current.CancellationToken);
        return await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
    }

    public void Dispose() => _directory.Dispose();
}
