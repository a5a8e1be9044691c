using System.Text.RegularExpressions;

namespace SqlitePool.Hosting;

/// <summary>Settings that differ for databases whose path matches <see cref="Pattern"/>; unset values keep the defaults.</summary>
/// <remarks><see cref="Pattern"/> is a glob over the path relative to the data root: <c>*</c> matches within a
/// segment, <c>**</c> across segments, <c>?</c> one character. Later overrides win over earlier ones.</remarks>
public sealed class DatabaseOverride
{
    /// <summary>Glob over the database path, e.g. <c>reports/**.db</c>.</summary>
    public string Pattern { get; set; } = "";

    /// <inheritdoc cref="DatabaseOptions.MaxReaders"/>
    public int? MaxReaders { get; set; }

    /// <inheritdoc cref="DatabaseOptions.Synchronous"/>
    public string? Synchronous { get; set; }

    /// <inheritdoc cref="DatabaseOptions.BusyTimeout"/>
    public TimeSpan? BusyTimeout { get; set; }

    /// <inheritdoc cref="DatabaseOptions.ForeignKeys"/>
    public bool? ForeignKeys { get; set; }

    /// <inheritdoc cref="DatabaseOptions.AllowAttach"/>
    public bool? AllowAttach { get; set; }

    /// <inheritdoc cref="DatabaseOptions.AllowPragmaChanges"/>
    public bool? AllowPragmaChanges { get; set; }

    /// <inheritdoc cref="DatabaseOptions.LeaseIdleTimeout"/>
    public TimeSpan? LeaseIdleTimeout { get; set; }

    /// <inheritdoc cref="DatabaseOptions.MaxLeaseHoldTime"/>
    public TimeSpan? MaxLeaseHoldTime { get; set; }

    /// <inheritdoc cref="DatabaseOptions.StatementTimeout"/>
    public TimeSpan? StatementTimeout { get; set; }

    /// <inheritdoc cref="DatabaseOptions.AcquireTimeout"/>
    public TimeSpan? AcquireTimeout { get; set; }

    /// <inheritdoc cref="DatabaseOptions.WriterQueueCapacity"/>
    public int? WriterQueueCapacity { get; set; }

    /// <inheritdoc cref="DatabaseOptions.ReaderQueueCapacity"/>
    public int? ReaderQueueCapacity { get; set; }

    /// <inheritdoc cref="DatabaseOptions.WalLimitBytes"/>
    public long? WalLimitBytes { get; set; }

    /// <inheritdoc cref="DatabaseOptions.MaxReaderSnapshotAge"/>
    public TimeSpan? MaxReaderSnapshotAge { get; set; }

    /// <inheritdoc cref="DatabaseOptions.CheckpointInterval"/>
    public TimeSpan? CheckpointInterval { get; set; }

    /// <inheritdoc cref="DatabaseOptions.ReaderIdleTimeout"/>
    public TimeSpan? ReaderIdleTimeout { get; set; }

    /// <inheritdoc cref="DatabaseOptions.DatabaseIdleTimeout"/>
    public TimeSpan? DatabaseIdleTimeout { get; set; }

    /// <inheritdoc cref="DatabaseOptions.CallerThreadReadLimit"/>
    public TimeSpan? CallerThreadReadLimit { get; set; }

    /// <inheritdoc cref="DatabaseOptions.CacheSizeKiB"/>
    public int? CacheSizeKiB { get; set; }

    /// <summary>True when <paramref name="path"/> matches <see cref="Pattern"/>.</summary>
    public bool Matches(string path) => GlobMatches(Pattern, path);

    /// <summary>True when <paramref name="path"/> matches the glob <paramref name="pattern"/> (<c>*</c>, <c>**</c>, <c>?</c>).</summary>
    internal static bool GlobMatches(string pattern, string path) => Regex.IsMatch(path, GlobToRegex(pattern), RegexOptions.CultureInvariant);

    internal void ApplyTo(DatabaseOptions options)
    {
        options.MaxReaders = MaxReaders ?? options.MaxReaders;
        options.Synchronous = Synchronous ?? options.Synchronous;
        options.BusyTimeout = BusyTimeout ?? options.BusyTimeout;
        options.ForeignKeys = ForeignKeys ?? options.ForeignKeys;
        options.AllowAttach = AllowAttach ?? options.AllowAttach;
        options.AllowPragmaChanges = AllowPragmaChanges ?? options.AllowPragmaChanges;
        options.LeaseIdleTimeout = LeaseIdleTimeout ?? options.LeaseIdleTimeout;
        options.MaxLeaseHoldTime = MaxLeaseHoldTime ?? options.MaxLeaseHoldTime;
        options.StatementTimeout = StatementTimeout ?? options.StatementTimeout;
        options.AcquireTimeout = AcquireTimeout ?? options.AcquireTimeout;
        options.WriterQueueCapacity = WriterQueueCapacity ?? options.WriterQueueCapacity;
        options.ReaderQueueCapacity = ReaderQueueCapacity ?? options.ReaderQueueCapacity;
        options.WalLimitBytes = WalLimitBytes ?? options.WalLimitBytes;
        options.MaxReaderSnapshotAge = MaxReaderSnapshotAge ?? options.MaxReaderSnapshotAge;
        options.CheckpointInterval = CheckpointInterval ?? options.CheckpointInterval;
        options.ReaderIdleTimeout = ReaderIdleTimeout ?? options.ReaderIdleTimeout;
        options.DatabaseIdleTimeout = DatabaseIdleTimeout ?? options.DatabaseIdleTimeout;
        options.CallerThreadReadLimit = CallerThreadReadLimit ?? options.CallerThreadReadLimit;
        options.CacheSizeKiB = CacheSizeKiB ?? options.CacheSizeKiB;
    }

    private static string GlobToRegex(string glob)
    {
        var pattern = Regex.Escape(glob)
            .Replace(@"\*\*", "\u0001", StringComparison.Ordinal)
            .Replace(@"\*", "[^/]*", StringComparison.Ordinal)
            .Replace(@"\?", "[^/]", StringComparison.Ordinal)
            .Replace("\u0001", ".*", StringComparison.Ordinal);
        return $"^{pattern}$";
    }
}
