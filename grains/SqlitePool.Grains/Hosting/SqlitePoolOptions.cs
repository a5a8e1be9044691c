using SqlitePool.Engine;
using SqlitePool.Engine.Backup;

namespace SqlitePool.Hosting;

/// <summary>Settings of the SQLite pool on a silo: where databases live, this node's name, and the
/// per-database defaults inherited from <see cref="DatabaseOptions"/>.</summary>
/// <remarks>Bound from the configuration section <see cref="SectionName"/>; validated when the silo starts.</remarks>
public sealed class SqlitePoolOptions : DatabaseOptions
{
    /// <summary>The configuration section: <c>SqlitePool</c>.</summary>
    public const string SectionName = "SqlitePool";

    /// <summary>Default of <see cref="DataRoot"/>.</summary>
    public const string DefaultDataRoot = "data";

    /// <summary>Directory that holds every database of this silo; relative paths start at the working directory.</summary>
    public string DataRoot { get; set; } = DefaultDataRoot;

    /// <summary>This silo's node name, the first part of database keys (<c>node/path</c>). When set, it becomes
    /// the silo's name (<c>SiloOptions.SiloName</c>); when null the silo's name is the node name (Kubernetes
    /// hosting sets it to the pod name).</summary>
    public string? NodeName { get; set; }

    /// <summary>Threads the silo keeps for SQLite work, whatever the number of databases (default four per core, at
    /// least 32). See <see cref="SchedulerMaxThreads"/>.</summary>
    public int SchedulerMinThreads { get; set; } = SqliteSchedulerOptions.DefaultMinThreads;

    /// <summary>The most threads SQLite work of all databases ever runs on (default 128): more are added only while every
    /// thread has been stuck in a long statement for a moment, and given back after.</summary>
    public int SchedulerMaxThreads { get; set; } = SqliteSchedulerOptions.DefaultMaxThreads;

    /// <summary>A budget for all of SQLite's memory in the process, in bytes (<c>sqlite3_soft_heap_limit64</c>): past it
    /// page caches shrink instead of growing. 0, the default, sets none; each connection's cache is still bounded by
    /// <see cref="DatabaseOptions.CacheSizeKiB"/>.</summary>
    public long SqliteSoftHeapLimitBytes { get; set; }

    /// <summary>The most files the silo's open databases hold together (each 4, and 2 more per reader); 0, the default,
    /// takes three quarters of the process's limit (<c>ulimit -n</c>). Past it a database keeps to one reader, and
    /// opening one closes databases nobody is using, least recently used first; they open again on their next call.</summary>
    public long MaxOpenFiles { get; set; }

    /// <summary>Default of <see cref="HolderCheckInterval"/>.</summary>
    public static readonly TimeSpan DefaultHolderCheckInterval = TimeSpan.FromSeconds(5);

    /// <summary>How often a database checks that the holders of its leases are still there: clients are pinged
    /// (no reply within this interval revokes their leases) and grain holders' silos are looked up in membership.</summary>
    public TimeSpan HolderCheckInterval { get; set; } = DefaultHolderCheckInterval;

    /// <summary>How often change notifications go out (default 100 ms): the tables committed within one interval
    /// reach subscribers in one call.</summary>
    public TimeSpan ChangeNotificationInterval { get; set; } = TimeSpan.FromMilliseconds(100);

    /// <summary>How long each open database has to answer <c>SELECT 1</c> in the health check (default 5 s).</summary>
    public TimeSpan HealthCheckTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>The write-ahead log size above which the health check reports a database degraded (default 1 GiB).</summary>
    public long HealthWalLimitBytes { get; set; } = 1L << 30;

    /// <summary>Per-database settings by path pattern; later entries win.</summary>
    public List<DatabaseOverride> Databases { get; } = [];

    /// <summary>Schema migrations by path pattern (see <see cref="AddMigrations"/>), run as a database opens.</summary>
    public List<DatabaseMigrations> Migrations { get; } = [];

    /// <summary>Registers migrations for the databases matching <paramref name="pattern"/>: when one opens, each
    /// migration newer than its <c>PRAGMA user_version</c> runs in its own transaction, in version order, before
    /// any call is served (and before <see cref="OnDatabaseOpened"/>).</summary>
    public SqlitePoolOptions AddMigrations(string pattern, params Migration[] migrations)
    {
        Migrations.Add(new DatabaseMigrations(pattern, migrations));
        return this;
    }

    /// <summary>Continuous backups by path pattern (see <see cref="AddContinuousBackup"/>); later entries win over
    /// earlier ones and over <see cref="DatabaseOptions.Backup"/>, the default of every database.</summary>
    public List<DatabaseBackup> Backups { get; } = [];

    /// <summary>Ships every commit of the databases matching <paramref name="pattern"/> (a glob, as in
    /// <see cref="DatabaseOverride.Pattern"/>) to a backup target: e.g.
    /// <c>o.AddContinuousBackup("tenants/**", b => b.UseAzureBlobs(connectionString, container))</c>.</summary>
    public SqlitePoolOptions AddContinuousBackup(string pattern, Action<BackupOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(pattern);
        ArgumentNullException.ThrowIfNull(configure);
        var backup = new BackupOptions();
        configure(backup);
        Backups.Add(new DatabaseBackup(pattern, backup));
        return this;
    }

    /// <summary>Runs once each time a database is opened (before any call is served), on its writer
    /// connection: create the schema here. Runs once even when the first calls race.</summary>
    public Action<DatabaseOpenContext>? OnDatabaseOpened { get; set; }

    /// <summary>The settings in force for a database path.</summary>
    public DatabaseOptions ResolveFor(string path)
    {
        var resolved = CopyDatabaseOptions();
        resolved.ConfinementRoot = Path.GetFullPath(DataRoot);
        foreach (var entry in Databases)
        {
            if (entry.Matches(path))
            {
                entry.ApplyTo(resolved);
            }
        }

        foreach (var backup in Backups)
        {
            if (DatabaseOverride.GlobMatches(backup.Pattern, path))
            {
                resolved.Backup = backup.Options.Copy();
            }
        }

        return resolved;
    }
}

/// <summary>A continuous backup for the databases whose path matches <paramref name="Pattern"/>.</summary>
public sealed record DatabaseBackup(string Pattern, BackupOptions Options);
