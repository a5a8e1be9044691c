namespace SqlitePool.Hosting;

/// <summary>Settings of one database's pool. In a silo, <c>SqlitePoolOptions</c> holds the defaults;
/// <c>DatabaseOverride</c> changes them for paths matching a pattern.</summary>
public class DatabaseOptions
{
    /// <summary>Default of <see cref="CacheSizeKiB"/>.</summary>
    public const int DefaultCacheSizeKiB = 2000;

    /// <summary>Default of <see cref="MaxReaders"/>.</summary>
    public const int DefaultMaxReaders = 4;

    /// <summary>Default of <see cref="Synchronous"/>: FULL, so an acknowledged write survives power loss.</summary>
    public const string DefaultSynchronous = "FULL";

    /// <summary>Default of <see cref="WriterQueueCapacity"/> and <see cref="ReaderQueueCapacity"/>.</summary>
    public const int DefaultQueueCapacity = 4096;

    /// <summary>The most reader connections; they are opened on demand. 1 to 64.</summary>
    public int MaxReaders { get; set; } = DefaultMaxReaders;

    /// <summary>SQLite journal mode; only <c>WAL</c> is supported (readers run beside the writer).</summary>
    public string JournalMode { get; set; } = "WAL";

    /// <summary>SQLite <c>synchronous</c>: OFF, NORMAL, FULL or EXTRA.</summary>
    public string Synchronous { get; set; } = DefaultSynchronous;

    /// <summary>How long SQLite retries when another process holds a lock. Only foreign processes can
    /// cause that: the pool itself never lets two of its connections contend.</summary>
    public TimeSpan BusyTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Enforce foreign keys (<c>PRAGMA foreign_keys</c>).</summary>
    public bool ForeignKeys { get; set; } = true;

    /// <summary>A lease unused for this long expires; a writer lease's open transaction is rolled back.</summary>
    public TimeSpan LeaseIdleTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>A lease held longer than this expires at its next idle moment, even while in use; its open
    /// transaction is rolled back. Bounds how long one holder can keep the writer.</summary>
    public TimeSpan MaxLeaseHoldTime { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>Longest a single call may run on its connection (a statement, a batch, a lease's statement); past
    /// it the statement is interrupted and the caller gets a <see cref="DatabaseTimeoutException"/>.</summary>
    public TimeSpan StatementTimeout { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>How long a caller waits for a connection or lease before a <see cref="DatabaseTimeoutException"/>.</summary>
    public TimeSpan AcquireTimeout { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>Most callers waiting for the writer (and for exclusive access) before <see cref="DatabaseOverloadedException"/>.</summary>
    public int WriterQueueCapacity { get; set; } = DefaultQueueCapacity;

    /// <summary>Most callers waiting for a reader before <see cref="DatabaseOverloadedException"/>.</summary>
    public int ReaderQueueCapacity { get; set; } = DefaultQueueCapacity;

    /// <summary>The write-ahead log size the checkpoint governor keeps the database under (default 64 MiB): above
    /// it, checkpoints TRUNCATE the log and readers holding a snapshot longer than <see cref="MaxReaderSnapshotAge"/>
    /// lose it. Also SQLite's <c>journal_size_limit</c>.</summary>
    public long WalLimitBytes { get; set; } = 64L << 20;

    /// <summary>How long a reader lease or stream may hold one snapshot while the log is over
    /// <see cref="WalLimitBytes"/> (default 5 min); past it the lease is revoked or the stream ended.</summary>
    public TimeSpan MaxReaderSnapshotAge { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>How often the governor looks at the log (default 2 s): it runs a PASSIVE checkpoint after a quiet
    /// interval, a TRUNCATE one when the log is over the limit or nothing reads.</summary>
    public TimeSpan CheckpointInterval { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>Longest a close waits for leases, streams and statements to end (default 30 s); past it leases are
    /// revoked, running statements interrupted, and connections still held are closed by their holders when they
    /// give them back. The lock file is released either way.</summary>
    public TimeSpan CloseTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>A reader left idle this long is closed (default 10 s); the next read opens one again (well under a
    /// millisecond). Readers are opened on demand, up to <see cref="MaxReaders"/>.</summary>
    public TimeSpan ReaderIdleTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>How long a read made by code on the silo outside any grain (a web request, a hosted service, the silo's
    /// own client) may run on that caller's thread before it moves to the SQLite scheduler (default 1 ms). A point read
    /// then costs no thread hand-off; a longer read holds its caller's thread no longer than this. Zero: every read runs
    /// on the scheduler. Reads from grains always do, so no Orleans turn ever waits on SQLite.</summary>
    public TimeSpan CallerThreadReadLimit { get; set; } = TimeSpan.FromMilliseconds(1);

    /// <summary>A database nobody has used for this long closes (default 2 min): its connections close after a
    /// checkpoint and its lock file is released; in a silo its grain then deactivates. The next call opens it again.
    /// <see cref="Timeout.InfiniteTimeSpan"/> keeps it open. A database with change subscribers stays open.</summary>
    public TimeSpan DatabaseIdleTimeout { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>Each connection's page cache, in KiB (default 2,000, SQLite's own): <c>PRAGMA cache_size</c>. With
    /// thousands of databases open, this times the open connections bounds SQLite's memory; the silo's
    /// <c>SqliteSoftHeapLimitBytes</c> bounds it for the whole process.</summary>
    public int CacheSizeKiB { get; set; } = DefaultCacheSizeKiB;

    /// <summary>Allow ATTACH and DETACH; attached files must still lie inside the data root (as SQLite
    /// resolves them: relative names against the working directory). Off by default.</summary>
    public bool AllowAttach { get; set; }

    /// <summary>Allow SQL to change <c>journal_mode</c> and <c>locking_mode</c>, which breaks readers beside the
    /// writer, the settings the pool owns, and to run <c>wal_checkpoint</c> (a checkpoint the pool does not mark: a crash
    /// before its own next checkpoint can then make transaction ids repeat). Off by default; <c>query_only</c> and the
    /// directory pragmas are always refused.</summary>
    public bool AllowPragmaChanges { get; set; }

    /// <summary>Continuous backup of the database (null, the default: none). In a silo, set by path pattern with
    /// <c>SqlitePoolOptions.AddContinuousBackup</c>.</summary>
    public SqlitePool.Engine.Backup.BackupOptions? Backup { get; set; }

    /// <summary>The folder allowed ATTACH targets must lie in: the silo's data root, or the database's folder
    /// when the engine is used on its own.</summary>
    internal string? ConfinementRoot { get; set; }

    internal DatabaseOptions CopyDatabaseOptions() => new()
    {
        AllowAttach = AllowAttach,
        AllowPragmaChanges = AllowPragmaChanges,
        MaxReaders = MaxReaders,
        JournalMode = JournalMode,
        Synchronous = Synchronous,
        BusyTimeout = BusyTimeout,
        ForeignKeys = ForeignKeys,
        LeaseIdleTimeout = LeaseIdleTimeout,
        MaxLeaseHoldTime = MaxLeaseHoldTime,
        StatementTimeout = StatementTimeout,
        AcquireTimeout = AcquireTimeout,
        WriterQueueCapacity = WriterQueueCapacity,
        ReaderQueueCapacity = ReaderQueueCapacity,
        WalLimitBytes = WalLimitBytes,
        MaxReaderSnapshotAge = MaxReaderSnapshotAge,
        CheckpointInterval = CheckpointInterval,
        CloseTimeout = CloseTimeout,
        ReaderIdleTimeout = ReaderIdleTimeout,
        CallerThreadReadLimit = CallerThreadReadLimit,
        DatabaseIdleTimeout = DatabaseIdleTimeout,
        CacheSizeKiB = CacheSizeKiB,
        Backup = Backup?.Copy(),
    };
}
