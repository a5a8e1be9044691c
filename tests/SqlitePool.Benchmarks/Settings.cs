namespace SqlitePool.Benchmarks;

/// <summary>How long and how often each scenario runs.</summary>
internal sealed record Settings(TimeSpan RunTime, int Repetitions, int TimedIterations, int StreamRows, string Output)
{
    public const int Callers = 64;
    public const int Rows = 100_000;
    public const int ResultRows = 10_000;

    public static Settings Parse(string[] args)
    {
        var quick = args.Contains("--quick");
        var output = args.SkipWhile(a => a != "--out").Skip(1).FirstOrDefault() ?? "benchmark-results.json";
        return quick
            ? new Settings(TimeSpan.FromSeconds(1), 3, 8, 1_000_000, output)
            : new Settings(TimeSpan.FromSeconds(3), 5, 20, 1_000_000, output);
    }
}
