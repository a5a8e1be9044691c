using System.Net;
using System.Text.Json;
using SqlitePool.Client;
using SqlitePool.Tests.Process;

namespace SqlitePool.Tests.Observability;

/// <summary>The silo host's HTTP side, on a real silo process: health, the databases JSON and the dashboard routes.</summary>
public sealed class SiloWebTests(SiloProcessFixture silo) : IClassFixture<SiloProcessFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Health_is_healthy_and_unhealthy_while_a_database_is_held_exclusively_past_the_deadline()
    {
        using var client = await GatewayClient.ConnectAsync(silo.GatewayPort, silo.ClusterId);
        using var http = new HttpClient { BaseAddress = silo.Http };
        var db = client.Client.GetDatabase("local", $"health/{Guid.NewGuid():N}.db");
        await db.ExecuteAsync("CREATE TABLE t(v)");

        var (healthy, body) = await GetAsync(http, "/health");
        Assert.Equal(HttpStatusCode.OK, healthy);
        Assert.Equal("Healthy", body.GetProperty("status").GetString());

        await using (await db.AcquireExclusiveAsync(Ct))
        {
            var (held, report) = await GetAsync(http, "/health");
            Assert.Equal(HttpStatusCode.ServiceUnavailable, held);
            Assert.Equal("Unhealthy", report.GetProperty("status").GetString());
            var description = report.GetProperty("checks").GetProperty("sqlitepool").GetProperty("description").GetString();
            Assert.Contains(db.Id.GrainKey, description, StringComparison.Ordinal);
            Assert.Contains("did not answer SELECT 1 within 1 s", description, StringComparison.Ordinal);
        }

        Assert.Equal(HttpStatusCode.OK, (await GetAsync(http, "/health")).Status);
    }

    [Fact]
    public async Task The_databases_json_lists_every_open_database_of_the_cluster_with_its_numbers()
    {
        using var client = await GatewayClient.ConnectAsync(silo.GatewayPort, silo.ClusterId);
        using var http = new HttpClient { BaseAddress = silo.Http };
        var first = client.Client.GetDatabase("local", $"web/{Guid.NewGuid():N}.db");
        var second = client.Client.GetDatabase("local", $"web/{Guid.NewGuid():N}.db");
        await first.ExecuteAsync("CREATE TABLE t(v)");
        await second.ExecuteAsync("CREATE TABLE t(v)");
        await first.QueryAsync("SELECT * FROM t");

        var (status, body) = await GetAsync(http, "/api/databases");

        Assert.Equal(HttpStatusCode.OK, status);
        var node = Assert.Single(body.GetProperty("nodes").EnumerateArray());
        Assert.Equal("local", node.GetProperty("node").GetString());
        var databases = node.GetProperty("databases").EnumerateArray().ToDictionary(d => d.GetProperty("database").GetString()!);
        Assert.Equal(1, databases[first.Id.GrainKey].GetProperty("reads").GetInt64());
        Assert.Equal(1, databases[second.Id.GrainKey].GetProperty("writes").GetInt64());
        Assert.True(databases[first.Id.GrainKey].GetProperty("walBytes").GetInt64() >= 0);
        Assert.Equal(JsonValueKind.Null, databases[first.Id.GrainKey].GetProperty("oldestReaderAge").ValueKind);

        // The CLI's view of the same: every open database of the cluster.
        var stats = await ProcessRunner.RunCliAsync(["stats", .. silo.Connection, "--format", "json"]);
        Assert.Equal(0, stats.ExitCode);
        Assert.Contains(first.Id.GrainKey, stats.Stdout, StringComparison.Ordinal);
        var table = await ProcessRunner.RunCliAsync(["stats", .. silo.Connection]);
        Assert.Contains(first.Id.Path, table.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Stats_watch_refreshes_the_cluster_view_until_interrupted()
    {
        using var client = await GatewayClient.ConnectAsync(silo.GatewayPort, silo.ClusterId);
        var db = client.Client.GetDatabase("local", $"watch/{Guid.NewGuid():N}.db");
        await db.ExecuteAsync("CREATE TABLE t(v)");
        using var watch = System.Diagnostics.Process.Start(ProcessRunner.Dotnet(ProcessRunner.CliDll, ["stats", .. silo.Connection, "--watch", "--interval", "0.2"]))!;
        var refreshes = 0;
        while (refreshes < 3 && await watch.StandardOutput.ReadLineAsync(Ct) is { } line)
        {
            refreshes += line.Contains(db.Id.Path, StringComparison.Ordinal) ? 1 : 0;
        }

        // Keep reading: a full pipe would block the watch's next refresh, and so its exit.
        var rest = watch.StandardOutput.ReadToEndAsync(Ct);

        // Ctrl+C ends the watch promptly.
        using (var interrupt = System.Diagnostics.Process.Start("kill", ["-INT", watch.Id.ToString()]))
        {
            await interrupt.WaitForExitAsync(Ct);
        }

        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        deadline.CancelAfter(TimeSpan.FromSeconds(15));
        try
        {
            await watch.WaitForExitAsync(deadline.Token);
        }
        finally
        {
            if (!watch.HasExited)
            {
                watch.Kill();
            }
        }

        await rest;
        Assert.Equal(3, refreshes);
    }

    [Fact]
    public async Task The_dashboard_and_the_databases_page_are_served()
    {
        using var http = new HttpClient { BaseAddress = silo.Http };

        var page = await http.GetStringAsync("/databases", Ct);
        var dashboard = await http.GetAsync("/dashboard/", Ct);

        Assert.Contains("/api/databases", page, StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, dashboard.StatusCode);
        Assert.Equal("text/html", dashboard.Content.Headers.ContentType?.MediaType);
    }

    private static async Task<(HttpStatusCode Status, JsonElement Body)> GetAsync(HttpClient http, string path)
    {
        using var response = await http.GetAsync(path, Ct);
        return (response.StatusCode, JsonDocument.Parse(await response.Content.ReadAsStringAsync(Ct)).RootElement.Clone());
    }
}
