using System.Globalization;

namespace SqlitePool.Benchmarks;

internal enum Unit
{
    OpsPerSecond,
    Milliseconds,
}

/// <summary>One scenario's repetitions and its baseline's; the ratio is higher-is-better for both units.</summary>
internal sealed record ScenarioResult(string Id, Unit Unit, string Baseline, IReadOnlyList<double> Values, IReadOnlyList<double> BaselineValues)
{
    /// <summary>For streaming: the most the client process grew, in MiB.</summary>
    public double? MemoryGrowthMiB { get; init; }

    /// <summary>For the tenant scenarios: a line with every figure of both sides, printed under <see cref="ToLine"/>.</summary>
    public string? Detail { get; init; }

    /// <summary>For the tenant scenarios: their own fields in the JSON.</summary>
    public IReadOnlyDictionary<string, object?>? Extra { get; init; }

    public double Value => Median(Values);

    public double BaselineValue => Median(BaselineValues);

    public double Ratio => Unit == Unit.OpsPerSecond ? Value / BaselineValue : BaselineValue / Value;

    public string UnitName => Unit == Unit.OpsPerSecond ? "ops/s" : "ms";

    public string ToLine() => string.Format(CultureInfo.InvariantCulture,
        "{0,-36} {1,12} {2,-6} [{3} .. {4}]   baseline {5,12} [{6} .. {7}] ({8})   ratio {9:0.00}{10}",
        Id, Format(Value), UnitName, Format(Values.Min()), Format(Values.Max()),
        Format(BaselineValue), Format(BaselineValues.Min()), Format(BaselineValues.Max()), Baseline, Ratio,
        MemoryGrowthMiB is { } growth ? $"   client memory +{growth:0.0} MiB" : "");

    private string Format(double value) => Unit == Unit.OpsPerSecond
        ? value.ToString("N0", CultureInfo.InvariantCulture)
        : value.ToString("0.00", CultureInfo.InvariantCulture);

    private static double Median(IReadOnlyList<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
    }
}
