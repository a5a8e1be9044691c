namespace SqlitePool.Benchmarks;

/// <summary>How long and how often each scenario runs.</summary>
internal sealed record Settings(TimeSpan RunTime, int Repetitions, int TimedIterations, int StreamRows, string Output)
{
    /// <summary>Unmeasured rounds of each side before the measured ones. Under load on few cores the JIT's tier-1
    /// compiler gets little time, so the Orleans path (many methods) reaches steady state seconds after direct SQLite
    /// (a few): without these, the first repetitions measure start-up, not the pool.</summary>
    public int WarmupRounds { get; init; } = 2;

    /// <summary>Runs only scenarios whose id starts with this (<c>--only</c>), e.g. to profile one.</summary>
    public string? Only { get; init; }

    public bool Selected(string id) => Only is null || id.StartsWith(Only, StringComparison.Ordinal);

    /// <summary>A quick run (<c>--quick</c>): the diagnostic scenarios run only when <c>--only</c> names them.</summary>
    public bool Quick { get; init; }

    /// <summary>Whether a diagnostic scenario (no target) runs.</summary>
    public bool Diagnostic(string id) => Selected(id) && (!Quick || Only is not null);

    /// <summary>Databases of each tenant scenario (<c>tenants-1k</c>, <c>tenants-10k</c>); <c>--tenants N</c>, a
    /// development option, runs one of N instead.</summary>
    public IReadOnlyList<int> TenantCounts { get; init; } = [1_000, 10_000];

    /// <summary>The measured run of a tenant scenario; <c>--tenant-seconds S</c>, a development option, shortens it
    /// and its other phases alike (see <see cref="TenantTimes"/>).</summary>
    public TimeSpan TenantRunTime { get; init; } = TenantTimes.FullRun;

    /// <summary>Whether a tenant scenario runs: they take minutes, so a quick run leaves them out unless
    /// <c>--only</c> names them (<c>--only tenants</c> runs just them).</summary>
    public bool RunsTenants(string id) => Diagnostic(id);

    /// <summary>Whether <c>--only</c> names tenant scenarios alone: then nothing else is set up.</summary>
    public bool OnlyTenants => Only is not null && Only.StartsWith(TenantScenarios.Prefix, StringComparison.Ordinal);

    /// <summary>Measured rounds of the point SELECT scenarios, at least five. Through grain calls they swing most:
    /// one 0.5 s turn of 64 callers reads anywhere from 0.45 to 1.46 of the direct turn beside it. On the
    /// silo-local lease a 2 s round still moves by about 2%, as much as lies between its goal and its ratio.</summary>
    public int PointSelectRepetitions => Math.Max(Repetitions, 5);

    /// <summary>Slices each measured round alternates the sides in. A side with 64 async callers needs a while to
    /// reach its steady rate after a pause (shared calls, thread pool): in 0.1 s turns, even with the first 20 ms left
    /// uncounted, co-hosted point SELECTs read 0.72-0.79 of direct, against 0.76-0.91 in 0.5 s turns.</summary>
    public const int Slices = 2;

    /// <summary>Iterations of a timed (ms) scenario per slice: a 10,000-row read takes about 10 ms.</summary>
    public const int IterationsPerSlice = 6;

    /// <summary>Slices each measured round of a timed (ms) scenario alternates the sides in.</summary>
    public int IterationSlices => Math.Max(Slices, TimedIterations / IterationsPerSlice);

    public const int Callers = 64;
    public const int Rows = 100_000;
    public const int ResultRows = 10_000;

    public static Settings Parse(string[] args)
    {
        var quick = args.Contains("--quick");
        string? Option(string name) => args.SkipWhile(a => a != name).Skip(1).FirstOrDefault();
        var output = Option("--out") ?? "benchmark-results.json";
        var settings = quick
            ? new Settings(TimeSpan.FromSeconds(1), 3, 48, 1_000_000, output)
            : new Settings(TimeSpan.FromSeconds(3), 5, 60, 1_000_000, output);
        return settings with
        {
            Only = Option("--only"),
            Quick = quick,
            RunTime = Option("--seconds") is { } seconds ? TimeSpan.FromSeconds(double.Parse(seconds, System.Globalization.CultureInfo.InvariantCulture)) : settings.RunTime,
            TenantCounts = Option("--tenants") is { } tenants ? [int.Parse(tenants, System.Globalization.CultureInfo.InvariantCulture)] : settings.TenantCounts,
            TenantRunTime = Option("--tenant-seconds") is { } tenantSeconds
                ? TimeSpan.FromSeconds(double.Parse(tenantSeconds, System.Globalization.CultureInfo.InvariantCulture))
                : settings.TenantRunTime,
        };
    }
}
