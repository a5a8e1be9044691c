using System.Globalization;
using System.Text.Json;

namespace SqlitePool.Benchmarks;

/// <summary>What one side's child process measured: printed by the child as one JSON line, read by the parent.</summary>
internal sealed record TenantReport
{
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public string Side { get; init; } = "";

    public int Databases { get; init; }

    /// <summary>False for plain SQLite run unpooled, where the process may not open a pooled connection to every database.</summary>
    public bool Pooled { get; init; } = true;

    /// <summary>Seconds to create every database (table and one row), 64 at a time.</summary>
    public double OpensSeconds { get; init; }

    public long OpenErrors { get; init; }

    public double OpsPerSecond { get; init; }

    /// <summary>Operations of the run (warm-up included) that threw.</summary>
    public long Errors { get; init; }

    public string? FirstError { get; init; }

    /// <summary>The most threads the process had while creating the databases and running the load.</summary>
    public int PeakThreads { get; init; }

    /// <summary>Resident memory before the first database was created, after a full collection.</summary>
    public double RssBeforeMiB { get; init; }

    /// <summary>Resident memory after the run, every database still open, after a full collection.</summary>
    public double RssMiB { get; init; }

    /// <summary>What SQLite's allocator held after the run.</summary>
    public double SqliteHeapMiB { get; init; }

    /// <summary>File descriptors open after the run.</summary>
    public int? OpenFiles { get; init; }

    /// <summary>The most the process may open: past it, databases fail to open.</summary>
    public long? OpenFileLimit { get; init; }

    public double RssPerDatabaseKiB => Databases == 0 ? 0 : (RssMiB - RssBeforeMiB) * 1024 / Databases;

    /// <summary>Resident memory after the quiet that follows the run (idle readers closed), in MiB.</summary>
    public double RssIdleMiB { get; init; }

    /// <summary>Databases open at that point.</summary>
    public int OpenDatabases { get; init; }

    /// <summary>What each open database costs at rest: (idle RSS - RSS before any open) / open databases.</summary>
    public double RssPerOpenDatabaseKiB => OpenDatabases == 0 ? 0 : (RssIdleMiB - RssBeforeMiB) * 1024 / OpenDatabases;

    /// <summary>CPU time of the process, every database open and no load, as a percentage of one core.</summary>
    public double IdleCpuPercent { get; init; }

    /// <summary>Seconds to close every database: the silo host's StopAsync, or ClearAllPools.</summary>
    public double StopSeconds { get; init; }

    /// <summary>Set by the parent: the child's exit code.</summary>
    public int? ExitCode { get; init; }

    /// <summary>Set by the parent when the child gave no report: why (its last words on stderr, or a timeout).</summary>
    public string? Failure { get; init; }

    /// <summary>Every figure, for the detail line.</summary>
    public string Describe() => Failure is not null
        ? $"{Side} FAILED (exit code {ExitCode}): {Failure}"
        : string.Format(CultureInfo.InvariantCulture,
            "{0}{17}: opens {1:0.00} s ({2} errors), {3:N0} ops/s ({4} errors{5}), peak {6:N0} threads, RSS {7:0.0} MiB (+{8:0.0} KiB per database; SQLite heap {9:0.0} MiB), {10} of {13} open files, idle CPU {11:0.0}% of a core, stop {12:0.00} s; at rest {14:N0} databases open, RSS {15:0.0} MiB, {16:0.0} KiB per open database",
            Side, OpensSeconds, OpenErrors, OpsPerSecond, Errors, FirstError is null ? "" : "; first: " + FirstError,
            PeakThreads, RssMiB, RssPerDatabaseKiB, SqliteHeapMiB, OpenFiles?.ToString("N0", CultureInfo.InvariantCulture) ?? "?", IdleCpuPercent, StopSeconds,
            OpenFileLimit?.ToString("N0", CultureInfo.InvariantCulture) ?? "?", OpenDatabases, RssIdleMiB, RssPerOpenDatabaseKiB, Pooled ? "" : " (unpooled)");
}
