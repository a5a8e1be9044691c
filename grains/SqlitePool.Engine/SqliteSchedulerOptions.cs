namespace SqlitePool.Engine;

/// <summary>Settings of the <see cref="SqliteScheduler"/>: how many threads run SQLite work for all databases.</summary>
public sealed class SqliteSchedulerOptions
{
    /// <summary>Default of <see cref="MinThreads"/>: four per core, at least 32. Commits of different databases each wait
    /// for their own fsync, and a disk completes many at once (here 6k fsyncs/s alone, 35k/s with 16 at a time); an
    /// idle thread costs no CPU.</summary>
    public static readonly int DefaultMinThreads = Math.Max(32, 4 * Environment.ProcessorCount);

    /// <summary>Default of <see cref="MaxThreads"/>.</summary>
    public const int DefaultMaxThreads = 128;

    /// <summary>Threads kept even when idle (they cost no CPU while idle). 1 to <see cref="MaxThreads"/>.</summary>
    public int MinThreads { get; set; } = DefaultMinThreads;

    /// <summary>The most threads ever running: the bound on the process's SQLite threads, whatever the number of
    /// databases. At least <see cref="MinThreads"/>.</summary>
    public int MaxThreads { get; set; } = DefaultMaxThreads;

    /// <summary>When connections have waited this long with every thread busy, a thread is added (long statements
    /// must not starve short ones). 1 ms to 10 s.</summary>
    public TimeSpan StallLimit { get; set; } = TimeSpan.FromMilliseconds(50);

    /// <summary>A thread beyond <see cref="MinThreads"/> ends after this long with nothing to do.</summary>
    public TimeSpan IdleThreadTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Throws when a setting is out of range, naming it.</summary>
    /// <exception cref="ArgumentException">A setting is out of range.</exception>
    public void Validate()
    {
        if (MinThreads < 1 || MinThreads > MaxThreads)
        {
            throw new ArgumentException($"MinThreads must be 1 to MaxThreads ({MaxThreads}); it is {MinThreads}.", nameof(MinThreads));
        }

        if (StallLimit < TimeSpan.FromMilliseconds(1) || StallLimit > TimeSpan.FromSeconds(10))
        {
            throw new ArgumentException($"StallLimit must be 1 ms to 10 s; it is {StallLimit}.", nameof(StallLimit));
        }

        if (IdleThreadTimeout <= TimeSpan.Zero)
        {
            throw new ArgumentException($"IdleThreadTimeout must be positive; it is {IdleThreadTimeout}.", nameof(IdleThreadTimeout));
        }
    }
}
