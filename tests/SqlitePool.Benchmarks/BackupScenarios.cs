using System.Diagnostics;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Time.Testing;
using SqlitePool.Client;
using SqlitePool.Engine;
using SqlitePool.Engine.Backup;
using SqlitePool.Hosting;

namespace SqlitePool.Benchmarks;

/// <summary>
/// Continuous backup's cost, to Azure Blob Storage (Azurite; a directory when it is not installed): group-committed
/// inserts with backup and with <c>AckAfterBackup</c> against the same without backup, and the time to restore a
/// 100 MB database with an hour of changes against copying it with SQLite's backup API.
/// </summary>
internal static class BackupScenarios
{
    public static async Task<IEnumerable<ScenarioResult>> RunAsync(Settings settings, string dataRoot)
    {
        var inserts = settings.Selected("insert-group-commit-full-");
        var restore = settings.Diagnostic("restore-100mb");
        if (!inserts && !restore)
        {
            return [];
        }

        using var azurite = await BenchmarkAzurite.StartAsync(Path.Combine(dataRoot, "azurite"));
        var (name, target) = azurite is null
            ? ("directory", (IBackupTarget)new DirectoryBackupTarget(Path.Combine(dataRoot, "backup")))
            : ("Azurite", new AzureBlobBackupTarget(azurite.ConnectionString, "bench"));
        var results = new List<ScenarioResult>();
        if (inserts)
        {
            results.AddRange(await InsertsAsync(settings, dataRoot, target, name));
        }

        if (restore)
        {
            results.Add(await RestoreAsync(settings, dataRoot, target, name));
        }

        return results;
    }

    private static async Task<ScenarioResult[]> InsertsAsync(Settings settings, string dataRoot, IBackupTarget target, string name)
    {
        await using var silo = await BenchmarkSilo.StartAsync(dataRoot, o =>
        {
            o.MaxReaders = 2;
            o.AddContinuousBackup("backup/**", b => b.Target = target);
            o.AddContinuousBackup("ack/**", b => (b.Target, b.AckAfterBackup) = (target, true));
        });
        var (plain, backedUp, acked) = (silo.Database("plain/inserts.db"), silo.Database("backup/inserts.db"), silo.Database("ack/inserts.db"));
        foreach (var db in new[] { plain, backedUp, acked })
        {
            await db.ExecuteAsync("CREATE TABLE IF NOT EXISTS w(id INTEGER PRIMARY KEY, v TEXT NOT NULL)");
        }

        Task<double> Ours(SqliteDatabase db, double share) =>
            Measure.ThroughputAsync(Settings.Callers, settings.RunTime * share, _ => db.ExecuteAsync("INSERT INTO w(v) VALUES ('value')"));
        var values = await Scenarios.MeasureInTurnsAsync(settings, Settings.Slices, settings.Repetitions,
            share => Ours(plain, share), share => Ours(backedUp, share), share => Ours(acked, share));
        var stored = (await backedUp.GetStatisticsAsync()).Backup;
        Console.Error.WriteLine($"continuous backup to {name}: {stored?.StoredBytes:N0} bytes stored, lag {stored?.LagSeconds} s");
        ScenarioResult[] results =
        [
            new("insert-group-commit-full-backup", Unit.OpsPerSecond, $"the same without backup; backup to {name}", values[1], values[0]),
            new("insert-group-commit-full-ack-after-backup", Unit.OpsPerSecond, $"the same without backup; AckAfterBackup to {name}", values[2], values[0]),
        ];
        foreach (var result in results)
        {
            Console.Error.WriteLine(result.ToLine());
        }

        return results;
    }

    /// <summary>A 100 MB database, snapshotted, then an hour of changes on a fake clock (a commit every second, each
    /// shipped, merged as the shipper does); its restore against SQLite's backup API copying the same database.</summary>
    private static async Task<ScenarioResult> RestoreAsync(Settings settings, string dataRoot, IBackupTarget target, string name)
    {
        var path = Path.Combine(dataRoot, "restore", "source.db");
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        const int Rows = 100_000;
        using (var connection = Direct.Open(path))
        {
            using var command = connection.CreateCommand();
            command.CommandText = "PRAGMA journal_mode = WAL; CREATE TABLE big(id INTEGER PRIMARY KEY, v BLOB);"
                + $"INSERT INTO big(v) SELECT randomblob(1000) FROM (WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {Rows}) SELECT i FROM n);";
            command.ExecuteNonQuery();
        }

        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var setUp = Stopwatch.StartNew();
        var options = new DatabaseOptions { DatabaseIdleTimeout = Timeout.InfiniteTimeSpan, Backup = new BackupOptions { Target = target, SnapshotInterval = TimeSpan.FromHours(2) } };
        await using (var pool = await DatabasePool.OpenAsync("restore/source.db", path, options, time))
        {
            var random = new Random(16);
            for (var second = 0; second < 3600; second++)
            {
                await pool.ExecuteBatchAsync([.. Enumerable.Range(0, 10).Select(_ => new Statement("UPDATE big SET v = randomblob(1000) WHERE id = ?", random.Next(1, Rows + 1)))]);
                time.Advance(TimeSpan.FromSeconds(1));
                await pool.FlushBackupAsync(TimeSpan.FromMinutes(1));
                await pool.MaintainBackupAsync();
            }
        }

        Console.Error.WriteLine($"restore-100mb: {new FileInfo(path).Length / (1 << 20)} MiB and an hour of changes stored to {name} in {setUp.Elapsed.TotalSeconds:0} s");
        var (ours, copies) = (new List<double>(), new List<double>());
        var objects = 0;
        for (var r = 0; r < settings.Repetitions; r++)
        {
            var restored = Path.Combine(dataRoot, "restore", $"restored-{r}.db");
            var watch = Stopwatch.StartNew();
            objects = (await BackupRestore.RestoreAsync(target, "restore/source.db", RestorePoint.Latest, restored)).ObjectsRead;
            ours.Add(watch.Elapsed.TotalMilliseconds);

            var copy = Path.Combine(dataRoot, "restore", $"copy-{r}.db");
            watch.Restart();
            using (var source = Direct.Open(path))
            using (var destination = new SqliteConnection($"Data Source={copy};Pooling=False"))
            {
                destination.Open();
                source.BackupDatabase(destination);
            }

            copies.Add(watch.Elapsed.TotalMilliseconds);
        }

        var result = new ScenarioResult("restore-100mb-hour", Unit.Milliseconds, $"SQLite's backup API copy of the file; restore from {name}, {objects} objects", ours, copies);
        Console.Error.WriteLine(result.ToLine());
        return result;
    }
}
