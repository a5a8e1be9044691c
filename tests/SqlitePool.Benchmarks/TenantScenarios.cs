using System.Diagnostics;
using System.Globalization;
using System.Text.Json;

namespace SqlitePool.Benchmarks;

/// <summary>
/// The tenant scenarios: N small databases under 64 callers, the pool against plain Microsoft.Data.Sqlite, each
/// side in a child process of its own (see <see cref="TenantChild"/>). A child that dies (the pool at 10,000
/// databases can run out of threads) or hangs is reported with its exit code and last words, its throughput 0.
/// </summary>
internal static class TenantScenarios
{
    public const string Prefix = "tenants";

    /// <summary>Longest a child may take: at 10,000 databases the opens, 32 s of phases and the stop fit well within.</summary>
    private static readonly TimeSpan ChildTimeout = TimeSpan.FromMinutes(15);

    // The report's figures that go into the JSON, each once for the pool and once, prefixed "baseline", for plain.
    private static readonly (string Name, Func<TenantReport, object?> Read)[] Fields =
    [
        ("opensSeconds", r => r.OpensSeconds),
        ("openErrors", r => r.OpenErrors),
        ("errors", r => r.Errors),
        ("firstError", r => r.FirstError),
        ("peakThreads", r => r.PeakThreads),
        ("rssMiB", r => r.RssMiB),
        ("rssPerDatabaseKiB", r => r.RssPerDatabaseKiB),
        ("sqliteHeapMiB", r => r.SqliteHeapMiB),
        ("rssIdleMiB", r => r.RssIdleMiB),
        ("openDatabases", r => r.OpenDatabases),
        ("rssPerOpenDatabaseKiB", r => r.RssPerOpenDatabaseKiB),
        ("openFiles", r => r.OpenFiles),
        ("openFileLimit", r => r.OpenFileLimit),
        ("idleCpuPercent", r => r.IdleCpuPercent),
        ("stopSeconds", r => r.StopSeconds),
        ("pooled", r => r.Pooled),
        ("exitCode", r => r.ExitCode),
        ("failure", r => r.Failure),
    ];

    public static string Id(int databases) => Prefix + "-" + (databases % 1000 == 0 ? $"{databases / 1000}k" : $"{databases}");

    public static async Task<List<ScenarioResult>> RunAsync(Settings settings, string dataRoot)
    {
        var results = new List<ScenarioResult>();
        foreach (var databases in settings.TenantCounts)
        {
            var id = Id(databases);
            if (!settings.RunsTenants(id))
            {
                continue;
            }

            var plain = await RunSideAsync("plain", databases, Path.Combine(dataRoot, id + "-plain"), settings.TenantRunTime);
            var pool = await RunSideAsync("pool", databases, Path.Combine(dataRoot, id + "-pool"), settings.TenantRunTime);
            var extra = new Dictionary<string, object?> { ["databases"] = databases };
            foreach (var (name, read) in Fields)
            {
                extra[name] = Figure(pool, name, read);
                extra["baseline" + char.ToUpperInvariant(name[0]) + name[1..]] = Figure(plain, name, read);
            }

            var baseline = plain.Pooled
                ? "plain Microsoft.Data.Sqlite, connection per operation"
                : "plain Microsoft.Data.Sqlite, connection per operation, unpooled: pooled it needs more open files than the limit";
            var result = new ScenarioResult(id, Unit.OpsPerSecond, baseline,
                [pool.OpsPerSecond], [plain.OpsPerSecond])
            {
                Detail = $"{id} ({databases:N0} databases) {pool.Describe()}; {plain.Describe()}",
                Extra = extra,
            };
            Console.Error.WriteLine(result.ToLine());
            Console.Error.WriteLine(result.Detail);
            results.Add(result);
        }

        return results;
    }

    // A side that gave no report has no figures, only its exit code and why.
    private static object? Figure(TenantReport report, string name, Func<TenantReport, object?> read) =>
        report.Failure is null || name is "exitCode" or "failure" ? read(report) : null;

    /// <summary>Runs one side in its own process on a fresh directory, deleted afterwards.</summary>
    private static async Task<TenantReport> RunSideAsync(string side, int databases, string directory, TimeSpan run)
    {
        Directory.CreateDirectory(directory);
        try
        {
            Console.Error.WriteLine($"{Id(databases)}: {side} side");
            var info = SelfLaunch.StartInfo("tenants", side, databases.ToString(CultureInfo.InvariantCulture), directory,
                run.TotalSeconds.ToString(CultureInfo.InvariantCulture));
            info.RedirectStandardOutput = true;
            info.RedirectStandardError = true;
            using var process = Process.Start(info)!;
            var lastWords = new Queue<string>();
            process.ErrorDataReceived += (_, e) =>
            {
                if (e.Data is not { } line)
                {
                    return;
                }

                Console.Error.WriteLine($"  [{side}] {line}");
                lock (lastWords)
                {
                    // Stack frames say less than the lines before them.
                    var trimmed = line.Trim();
                    if (trimmed.Length > 0 && !trimmed.StartsWith("at ", StringComparison.Ordinal) && !trimmed.StartsWith("--- End of", StringComparison.Ordinal))
                    {
                        lastWords.Enqueue(trimmed);
                        if (lastWords.Count > 3)
                        {
                            lastWords.Dequeue();
                        }
                    }
                }
            };
            process.BeginErrorReadLine();
            var output = process.StandardOutput.ReadToEndAsync();
            string? failure = null;
            using (var timeout = new CancellationTokenSource(ChildTimeout))
            {
                try
                {
                    await process.WaitForExitAsync(timeout.Token);
                }
                catch (OperationCanceledException)
                {
                    process.Kill(entireProcessTree: true);
                    await process.WaitForExitAsync();
                    failure = $"killed after {ChildTimeout.TotalMinutes} minutes";
                }
            }

            var json = (await output).Split('\n').LastOrDefault(line => line.StartsWith('{'));
            var report = json is null ? null : JsonSerializer.Deserialize<TenantReport>(json, TenantReport.Json);
            if (report is not null)
            {
                return report with { ExitCode = process.ExitCode };
            }

            lock (lastWords)
            {
                failure ??= "no report" + (lastWords.Count > 0 ? "; last on stderr: " + string.Join(" / ", lastWords) : "");
            }

            return new TenantReport { Side = side, Databases = databases, ExitCode = process.ExitCode, Failure = failure };
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }
}
