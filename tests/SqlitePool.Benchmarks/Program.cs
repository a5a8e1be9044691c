using System.Globalization;
using System.Text.Json;
using SqlitePool.Benchmarks;

// dotnet run -c Release --project tests/SqlitePool.Benchmarks -- [--quick] [--only ID-PREFIX] [--out FILE]
// (--only tenants runs just the tenant scenarios, which a quick run leaves out)
if (args is ["client", var port, var clusterId])
{
    return await RemoteClient.RunAsync(int.Parse(port, CultureInfo.InvariantCulture), clusterId);
}

if (args is ["tenants", var side, var databases, var directory, .. var seconds])
{
    return await TenantChild.RunAsync(side, int.Parse(databases, CultureInfo.InvariantCulture), directory,
        new TenantTimes(seconds is [var s] ? TimeSpan.FromSeconds(double.Parse(s, CultureInfo.InvariantCulture)) : TenantTimes.FullRun));
}

var settings = Settings.Parse(args);
var dataRoot = Path.Combine(Path.GetTempPath(), "sqlitepool-bench-" + Environment.ProcessId);
Directory.CreateDirectory(dataRoot);
try
{
    var results = new List<ScenarioResult>();
    if (!settings.OnlyTenants)
    {
        Console.Error.WriteLine($"Seeding {Settings.Rows:N0} rows; {Environment.ProcessorCount} cores; {(args.Contains("--quick") ? "quick" : "full")} run");
        Direct.Seed(Path.Combine(dataRoot, "bench.db"), Settings.Rows);
        if (settings.Selected("stream"))
        {
            Direct.Seed(Path.Combine(dataRoot, "stream.db"), settings.StreamRows);
        }

        // Stopped before the tenant scenarios, whose child processes measure the machine's CPU and memory.
        await using var silo = await BenchmarkSilo.StartAsync(dataRoot);
        using var remote = await RemoteClient.StartAsync(silo);
        results.AddRange(await new Scenarios(settings, silo, remote).RunAsync());
        await silo.StopAsync();
        results.AddRange(await BackupScenarios.RunAsync(settings, dataRoot));
    }

    results.AddRange(await TenantScenarios.RunAsync(settings, dataRoot));

    Console.WriteLine();
    Console.WriteLine($"{"scenario",-36} {"median",12} {"unit",-6} [min .. max]   baseline (median [min .. max])   ratio (higher is better)");
    foreach (var result in results)
    {
        Console.WriteLine(result.ToLine());
        if (result.Detail is not null)
        {
            Console.WriteLine("  " + result.Detail);
        }
    }

    var json = new
    {
        machine = new { cores = Environment.ProcessorCount, os = Environment.OSVersion.ToString(), runtime = Environment.Version.ToString() },
        repetitions = settings.Repetitions,
        scenarios = results.Select(r =>
        {
            var scenario = new Dictionary<string, object?>
            {
                ["id"] = r.Id,
                ["value"] = r.Value,
                ["unit"] = r.UnitName,
                ["baseline"] = r.Baseline,
                ["baselineValue"] = r.BaselineValue,
                // A tenant scenario whose baseline failed has no ratio.
                ["ratio"] = double.IsFinite(r.Ratio) ? r.Ratio : null,
                ["repetitions"] = r.Values.Count,
                ["min"] = r.Values.Min(),
                ["max"] = r.Values.Max(),
                ["baselineMin"] = r.BaselineValues.Min(),
                ["baselineMax"] = r.BaselineValues.Max(),
                ["clientMemoryGrowthMiB"] = r.MemoryGrowthMiB,
            };
            foreach (var (name, value) in r.Extra ?? new Dictionary<string, object?>())
            {
                scenario[name] = value;
            }

            return scenario;
        }),
    };
    await File.WriteAllTextAsync(settings.Output, JsonSerializer.Serialize(json, new JsonSerializerOptions { WriteIndented = true }));
    Console.WriteLine($"Wrote {Path.GetFullPath(settings.Output)}");
    return 0;
}
finally
{
    Directory.Delete(dataRoot, recursive: true);
}
