using System.Net;
using System.Text;
using SqlitePool.Client;
using SqlitePool.Tests.Process;
using SqlitePool.Tests.Support;

namespace SqlitePool.Tests.Observability;

/// <summary>The silo host exports its metrics over OTLP when one setting names a collector; a listener here plays the collector.</summary>
public sealed class OtlpExportTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task With_an_OTLP_endpoint_the_silo_exports_the_pool_metrics_tagged_with_the_database()
    {
        var collectorPort = ServerProcess.FreePort();
        using var collector = new HttpListener { Prefixes = { $"http://127.0.0.1:{collectorPort}/" } };
        collector.Start();
        using var directory = new TempDirectory();
        var (gateway, clusterId) = (ServerProcess.FreePort(), "otlp-" + Guid.NewGuid().ToString("N")[..8]);
        await using var silo = await ServerProcess.StartSiloAsync(directory.Path,
        [
            "--gateway-port", gateway.ToString(), "--silo-port", ServerProcess.FreePort().ToString(), "--cluster-id", clusterId,
            "--otlp", $"http://127.0.0.1:{collectorPort}/v1/metrics", "--otlp-protocol", "http/protobuf", "--Silo:OtlpInterval=00:00:00.500",
        ]);
        using var client = await GatewayClient.ConnectAsync(gateway, clusterId);
        var db = client.Client.GetDatabase("local", "exported.db");
        await db.ExecuteAsync("CREATE TABLE t(v)");
        await db.ExecuteAsync("INSERT INTO t VALUES (1), (2)");

        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        deadline.CancelAfter(TimeSpan.FromSeconds(30));
        string body;
        do
        {
            var context = await collector.GetContextAsync().WaitAsync(deadline.Token);
            using var content = new MemoryStream();
            await context.Request.InputStream.CopyToAsync(content, deadline.Token);
            Assert.Equal("/v1/metrics", context.Request.Url!.AbsolutePath);
            context.Response.StatusCode = 200;
            context.Response.Close();
            // OTLP protobuf carries names and string tag values as UTF-8.
            body = Encoding.UTF8.GetString(content.ToArray());
        }
        while (!body.Contains("sqlitepool.rows.written", StringComparison.Ordinal));

        Assert.Contains("db.client.connection.pool.name", body, StringComparison.Ordinal);
        Assert.Contains(db.Id.GrainKey, body, StringComparison.Ordinal);
        Assert.Contains("db.client.operation.duration", body, StringComparison.Ordinal);
    }
}
