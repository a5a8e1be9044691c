using System.Diagnostics;
using SqlitePool.Client;
using SqlitePool.Tests.Support;

namespace SqlitePool.Tests.Process;

/// <summary>Invariant 4: a lease whose client process dies ends, and its open transaction is rolled back.</summary>
public sealed class AbandonedLeaseProcessTests
{
    private static readonly TimeSpan LeaseIdleTimeout = TimeSpan.FromMinutes(2);

    [Fact]
    public async Task A_killed_client_holding_a_writer_transaction_loses_its_lease_before_the_ttl_and_its_rows()
    {
        using var directory = new TempDirectory();
        var (siloPort, gatewayPort) = (ServerProcess.FreePort(), ServerProcess.FreePort());
        var clusterId = "abandon-" + Guid.NewGuid().ToString("N")[..8];
        await using var silo = await ServerProcess.StartSiloAsync(directory.Path,
        [
            "--gateway-port", gatewayPort.ToString(), "--silo-port", siloPort.ToString(), "--cluster-id", clusterId,
            "--SqlitePool:HolderCheckInterval", "00:00:01", "--SqlitePool:LeaseIdleTimeout", LeaseIdleTimeout.ToString(),
            "--SqlitePool:AcquireTimeout", "00:01:00",
        ]);
        using var client = await GatewayClient.ConnectAsync(gatewayPort, clusterId);
        var db = client.Client.GetDatabase("local", "abandon.db");
        await db.ExecuteAsync("CREATE TABLE t(v TEXT)");

        // A real client process: the CLI shell holds a writer lease from BEGIN on.
        using var shell = System.Diagnostics.Process.Start(ProcessRunner.Dotnet(ProcessRunner.CliDll,
            ["shell", "local:abandon.db", "--format", "json", "--gateway", $"127.0.0.1:{gatewayPort}", "--cluster-id", clusterId]))!;
        try
        {
            // The transaction id stays the last commit's (the CREATE TABLE) while the transaction is open.
            Assert.Equal("{\"changes\":0,\"lastInsertRowId\":0,\"txid\":1}", await SendAsync(shell, "BEGIN IMMEDIATE"));
            Assert.Equal("{\"changes\":1,\"lastInsertRowId\":1,\"txid\":1}", await SendAsync(shell, "INSERT INTO t(v) VALUES ('abandoned')"));
            var held = Assert.Single((await db.GetStatisticsAsync()).Leases);
            Assert.Equal(LeaseKind.Writer, held.Kind);
            Assert.True(held.Holder.IsClient);
        }
        finally
        {
            shell.Kill(entireProcessTree: true);
        }

        var killed = Stopwatch.StartNew();
        await db.ExecuteAsync("INSERT INTO t(v) VALUES ('next writer')");
        TestContext.Current.TestOutputHelper?.WriteLine($"next writer got the database {killed.ElapsedMilliseconds} ms after the kill");

        // Revoked because the client stopped answering, not expired by the (two-minute) idle TTL.
        var stats = await db.GetStatisticsAsync();
        Assert.Equal((1L, 0L), (stats.RevokedLeases, stats.ExpiredLeases));
        Assert.Equal(["next writer"], await db.QueryAsync<string>("SELECT v FROM t"));
        Assert.Equal("ok", await db.QuerySingleAsync<string>("PRAGMA integrity_check"));
    }

    private static async Task<string?> SendAsync(System.Diagnostics.Process shell, string line)
    {
        await shell.StandardInput.WriteLineAsync(line);
        await shell.StandardInput.FlushAsync();
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(60));
        return await shell.StandardOutput.ReadLineAsync(timeout.Token);
    }
}
