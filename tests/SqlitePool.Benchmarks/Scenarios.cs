using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using SqlitePool.Client;
using SqlitePool.Engine;
using SqlitePool.Hosting;

namespace SqlitePool.Benchmarks;

/// <summary>The scenarios of the benchmark, each measured next to its direct Microsoft.Data.Sqlite baseline.</summary>
internal sealed class Scenarios(Settings settings, BenchmarkSilo silo, RemoteProcess remote)
{
    private const string Bench = "bench.db";
    private string BenchPath => Path.Combine(silo.DataRoot, Bench);

    // Positional values bind $id by position: an array travels lighter than a dictionary.
    public static Statement PointSelect(long id) => new(Direct.PointSelect, id);

    public static Statement ResultSelect() => new(Direct.ResultSelect, new Dictionary<string, object?> { ["n"] = Settings.ResultRows });

    public static Task<double> GrainPointSelectsAsync(SqliteDatabase db, TimeSpan duration) =>
        Measure.ThroughputAsync(Settings.Callers, duration, i => db.QueryAsync(PointSelect(i % Settings.Rows + 1)));

    public async Task<List<ScenarioResult>> RunAsync()
    {
        var results = new List<ScenarioResult?>();
        // Diagnostic: a grain call that does nothing, on the same silo, next to nothing.
        var noop = silo.Services.GetRequiredService<IClusterClient>().GetGrain<INoopGrain>(0);
        for (var r = 0; r < 2 && settings.Selected("orleans-noop"); r++)
        {
            Console.Error.WriteLine($"orleans no-op calls, {Settings.Callers} callers: {await Measure.ThroughputAsync(Settings.Callers, settings.RunTime, i => noop.PingAsync(i)):N0}/s");
            Console.Error.WriteLine($"orleans no-op calls from the client process, {Settings.Callers} callers: {await remote.AskAsync($"noop - {settings.RunTime.TotalSeconds}"):N0}/s");
        }

        using var twoThreads = new DirectPointSelects(BenchPath, 2);
        using var oneThread = new DirectPointSelects(BenchPath, 1);

        // Diagnostic: the pool engine alone (no Orleans call), to tell engine overhead from the grain call's.
        if (settings.Diagnostic("point-select-engine"))
        {
            await using var engine = await DatabasePool.OpenAsync("engine", BenchPath, new DatabaseOptions { MaxReaders = 2 });
            results.Add(await CompareAsync("point-select-engine", Unit.OpsPerSecond, "direct, 2 threads",
                share => Measure.ThroughputAsync(Settings.Callers, settings.RunTime * share, i => engine.QueryAsync(PointSelect(i % Settings.Rows + 1))),
                share => Task.FromResult(twoThreads.Run(settings.RunTime * share))));
        }

        // The engine pool above held the file's lock; the grain opens it now.
        var db = silo.Database(Bench);
        await db.QueryAsync(PointSelect(1));
        results.Add(await CompareAsync("point-select-grain", Unit.OpsPerSecond, "direct, 2 threads",
            share => GrainPointSelectsAsync(db, settings.RunTime * share),
            share => Task.FromResult(twoThreads.Run(settings.RunTime * share)),
            repetitions: settings.PointSelectRepetitions));

        var local = await silo.Services.GetRequiredService<LocalDatabases>().OpenLocalAsync(Bench);
        results.Add(CompareInterleaved("point-select-local-lease", "direct, 1 connection", oneThread.Query(0), LeasePointSelect(local)));

        results.AddRange(await InsertsAsync());

        using (var connection = Direct.Open(BenchPath))
        {
            results.Add(await CompareAsync("result-10k-local", Unit.Milliseconds, "direct read into QueryResult",
                share => Measure.MillisecondsAsync(Iterations(share), () => db.QueryAsync(ResultSelect())),
                share => Measure.MillisecondsAsync(Iterations(share), () => Task.FromResult(Direct.ReadRows(connection, Settings.ResultRows))),
                settings.IterationSlices));
            results.Add(await CompareAsync("result-10k-remote", Unit.Milliseconds, "direct read into QueryResult",
                share => remote.AskAsync($"result {Bench} {Iterations(share)}"),
                share => Measure.MillisecondsAsync(Iterations(share), () => Task.FromResult(Direct.ReadRows(connection, Settings.ResultRows))),
                settings.IterationSlices));
        }

        results.Add(await StreamAsync());

        results.Add(await CompareAsync("point-select-remote", Unit.OpsPerSecond, "direct, 2 threads",
            share => remote.AskAsync(FormattableString.Invariant($"point-select {Bench} {(settings.RunTime * share).TotalSeconds}")),
            share => Task.FromResult(twoThreads.Run(settings.RunTime * share)),
            repetitions: settings.PointSelectRepetitions));
        return [.. results.OfType<ScenarioResult>()];
    }

    /// <summary>A point SELECT on a silo-local lease, taken and given back around the query.</summary>
    private static Action<long> LeasePointSelect(LocalDatabase local) => i =>
    {
        using var lease = local.AcquireReader();
        var command = lease.Prepare(Direct.PointSelect);
        var id = command.Parameters.Count == 0 ? command.Parameters.Add("$id", SqliteType.Integer) : command.Parameters[0];
        Direct.ReadPoint(command, id, i % Settings.Rows + 1);
    };

    /// <summary>Measures two synchronous single-thread loops interleaved in short blocks (see
    /// <see cref="Measure.Interleaved"/>): each round gives each side about <see cref="Settings.RunTime"/>.</summary>
    private ScenarioResult? CompareInterleaved(string id, string baseline, Action<long> direct, Action<long> ours)
    {
        if (!settings.Selected(id))
        {
            return null;
        }

        for (var r = 0; r < settings.WarmupRounds; r++)
        {
            Measure.Interleaved(settings.RunTime, direct, ours);
        }

        var (directValues, oursValues) = (new List<double>(), new List<double>());
        for (var r = 0; r < settings.PointSelectRepetitions; r++)
        {
            var (directRate, oursRate) = Measure.Interleaved(settings.RunTime * 2, direct, ours);
            directValues.Add(directRate);
            oursValues.Add(oursRate);
        }

        var result = new ScenarioResult(id, Unit.OpsPerSecond, baseline, oursValues, directValues);
        Console.Error.WriteLine(result.ToLine());
        return result;
    }

    private async Task<IEnumerable<ScenarioResult>> InsertsAsync()
    {
        if (!settings.Selected("insert"))
        {
            return [];
        }

        var full = silo.Database("full/inserts.db");
        var normal = silo.Database("normal/inserts.db");
        foreach (var db in new[] { full, normal })
        {
            await db.ExecuteAsync("CREATE TABLE IF NOT EXISTS w(id INTEGER PRIMARY KEY, v TEXT NOT NULL)");
        }

        Directory.CreateDirectory(Path.Combine(silo.DataRoot, "direct"));
        using var directFull = new DirectInserts(Path.Combine(silo.DataRoot, "direct", "full.db"), "FULL");
        using var directNormal = new DirectInserts(Path.Combine(silo.DataRoot, "direct", "normal.db"), "NORMAL");
        Task<double> Ours(SqliteDatabase db, double share) =>
            Measure.ThroughputAsync(Settings.Callers, settings.RunTime * share, _ => db.ExecuteAsync("INSERT INTO w(v) VALUES ('value')"));

        // The four sides take turns like a comparison's two.
        var values = await MeasureInTurnsAsync(
            Settings.Slices,
            settings.Repetitions,
            share => Task.FromResult(directFull.Run(settings.RunTime * share)),
            share => Ours(full, share),
            share => Task.FromResult(directNormal.Run(settings.RunTime * share)),
            share => Ours(normal, share));
        var (baseFull, oursFull, baseNormal, oursNormal) = (values[0], values[1], values[2], values[3]);

        return
        [
            new("insert-group-commit-full", Unit.OpsPerSecond, "direct autocommit, FULL", oursFull, baseFull),
            new("insert-group-commit-full-vs-normal", Unit.OpsPerSecond, "direct autocommit, NORMAL", oursFull, baseNormal),
            new("insert-group-commit-normal", Unit.OpsPerSecond, "direct autocommit, NORMAL", oursNormal, baseNormal),
        ];
    }

    /// <summary>1,000,000 rows streamed to the client process, against reading them directly.</summary>
    private async Task<ScenarioResult?> StreamAsync()
    {
        var growth = new List<double>();
        var result = await CompareAsync("stream-1m-remote", Unit.OpsPerSecond, "direct read of every row",
            async _ =>
            {
                var answer = await remote.AskAllAsync("stream stream.db");
                growth.Add(answer[1]);
                return answer[0];
            },
            _ => Task.FromResult(Direct.ReadAll(Path.Combine(silo.DataRoot, "stream.db"))),
            slices: 1);
        return result is null ? null : result with { MemoryGrowthMiB = growth.Max() };
    }

    /// <summary>Measures baseline and ours in turns (see <see cref="MeasureInTurnsAsync"/>).</summary>
    private async Task<ScenarioResult?> CompareAsync(
        string id, Unit unit, string baseline, Func<double, Task<double>> ours, Func<double, Task<double>> direct,
        int? slices = null, int? repetitions = null)
    {
        if (!settings.Selected(id))
        {
            return null;
        }

        var values = await MeasureInTurnsAsync(slices ?? Settings.Slices, repetitions ?? settings.Repetitions, direct, ours);
        var result = new ScenarioResult(id, unit, baseline, values[1], values[0]);
        Console.Error.WriteLine(result.ToLine());
        return result;
    }

    /// <summary>Runs the sides in turn: <see cref="Settings.WarmupRounds"/> unmeasured rounds of each, then
    /// <paramref name="repetitions"/> measured rounds, each alternating the sides in <paramref name="slices"/>
    /// slices (each function is given its share of a full measurement), so a machine whose speed drifts slows
    /// every side alike. Returns each side's value per measured round.</summary>
    private Task<List<double>[]> MeasureInTurnsAsync(int slices, int repetitions, params Func<double, Task<double>>[] sides) =>
        MeasureInTurnsAsync(settings, slices, repetitions, sides);

    /// <inheritdoc cref="MeasureInTurnsAsync(int, int, Func{double, Task{double}}[])"/>
    internal static async Task<List<double>[]> MeasureInTurnsAsync(Settings settings, int slices, int repetitions, params Func<double, Task<double>>[] sides)
    {
        var values = sides.Select(_ => new List<double>()).ToArray();
        for (var r = 0; r < settings.WarmupRounds; r++)
        {
            foreach (var side in sides)
            {
                await side(1);
            }
        }

        for (var r = 0; r < repetitions; r++)
        {
            // Equal slices: the mean of their rates (or of their per-iteration times) is the whole round's.
            var sums = new double[sides.Length];
            for (var slice = 0; slice < slices; slice++)
            {
                for (var i = 0; i < sides.Length; i++)
                {
                    sums[i] += await sides[i](1.0 / slices);
                }
            }

            for (var i = 0; i < sides.Length; i++)
            {
                values[i].Add(sums[i] / slices);
            }
        }

        return values;
    }

    private int Iterations(double share) => Math.Max(1, (int)Math.Round(settings.TimedIterations * share));
}
