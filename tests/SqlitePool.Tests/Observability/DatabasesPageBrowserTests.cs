using Microsoft.Playwright;
using SqlitePool.Client;
using SqlitePool.Tests.Process;

namespace SqlitePool.Tests.Observability;

/// <summary>The Databases page in a real browser (Debian's chromium driven by Playwright) on a real silo process.</summary>
public sealed class DatabasesPageBrowserTests(SiloProcessFixture silo) : IClassFixture<SiloProcessFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>The browser: <c>CHROMIUM_PATH</c>, else Debian's (tests/run.sh installs it when missing).</summary>
    private static string? Chromium =>
        new[] { Environment.GetEnvironmentVariable("CHROMIUM_PATH"), "/usr/bin/chromium", "/usr/bin/chromium-browser" }.FirstOrDefault(File.Exists);

    [Fact]
    public async Task The_databases_page_shows_the_open_databases_and_their_numbers_change_during_a_workload()
    {
        var chromium = Chromium;
        Assert.SkipWhen(chromium is null, "chromium is not installed; tests/run.sh installs it with apt-get");
        using var client = await GatewayClient.ConnectAsync(silo.GatewayPort, silo.ClusterId);
        var db = client.Client.GetDatabase("local", $"browser/{Guid.NewGuid():N}.db");
        var other = client.Client.GetDatabase("local", $"browser/{Guid.NewGuid():N}.db");
        await db.ExecuteAsync("CREATE TABLE t(v)");
        await other.ExecuteAsync("CREATE TABLE t(v)");
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var workload = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                await db.ExecuteAsync("INSERT INTO t(v) VALUES (?)", "x");
                await db.QueryAsync("SELECT count(*) FROM t");
                await Task.Delay(20, CancellationToken.None);
            }
        }, CancellationToken.None);

        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new() { ExecutablePath = chromium, Headless = true, Args = ["--no-sandbox"] });
        var page = await browser.NewPageAsync(new() { ViewportSize = new() { Width = 1400, Height = 700 } });
        await page.GotoAsync(new Uri(silo.Http, "/databases").ToString());

        var row = page.Locator($"tr[data-db='{db.Id.GrainKey}']");
        await row.WaitForAsync(new() { Timeout = 15_000 });
        await page.Locator($"tr[data-db='{other.Id.GrainKey}']").WaitForAsync(new() { Timeout = 15_000 });
        var writes = row.Locator("[data-field=writes]");
        var before = long.Parse(await writes.InnerTextAsync());
        var after = before;
        for (var i = 0; i < 100 && after <= before; i++)
        {
            await Task.Delay(200, Ct);
            after = long.Parse(await writes.InnerTextAsync());
        }

        Assert.True(after > before, $"the page's writes stayed at {before}");
        var screenshot = Path.Combine(AppContext.BaseDirectory, "screenshots", "databases-page.png");
        Directory.CreateDirectory(Path.GetDirectoryName(screenshot)!);
        await page.ScreenshotAsync(new() { Path = screenshot, FullPage = true });
        TestContext.Current.TestOutputHelper?.WriteLine($"writes {before} -> {after}; screenshot {screenshot}");
        Assert.True(new FileInfo(screenshot).Length > 0);

        await stop.CancelAsync();
        await workload;

        var dashboard = await page.GotoAsync(new Uri(silo.Http, "/dashboard/").ToString());
        Assert.Equal(200, dashboard!.Status);
        await page.WaitForLoadStateAsync(LoadState.NetworkIdle);
        Assert.Contains("Orleans", await page.TitleAsync() + await page.ContentAsync(), StringComparison.OrdinalIgnoreCase);
        await page.ScreenshotAsync(new() { Path = Path.Combine(Path.GetDirectoryName(screenshot)!, "orleans-dashboard.png") });
    }
}
