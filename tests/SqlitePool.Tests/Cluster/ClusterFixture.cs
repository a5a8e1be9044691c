using System.Collections.Concurrent;
using SqlitePool.Client;
using SqlitePool.Hosting;
using SqlitePool.Tests.Support;

namespace SqlitePool.Tests.Cluster;

/// <summary>One in-process silo with the pool, shared by the grain tests; each test uses its own database.</summary>
public sealed class ClusterFixture : IAsyncLifetime
{
    private readonly OneSiloCluster _cluster = new();

    /// <summary>Open-hook runs per database key.</summary>
    public static ConcurrentDictionary<string, int> HookRuns { get; } = new();

    /// <summary>Calls the database grains received, per grain key (every call, from anywhere).</summary>
    public static ConcurrentDictionary<string, int> GrainCalls { get; } = new();

    /// <summary>The folder that holds the data root and nothing else.</summary>
    public string Sandbox => _cluster.Sandbox;

    public string DataRoot => _cluster.DataRoot;

    public IClusterClient Client => _cluster.Client;

    /// <summary>The silo's own services, as code running on the silo sees them.</summary>
    public IServiceProvider SiloServices => _cluster.SiloServices;

    public SqliteDatabase Database(string path) => Client.GetDatabase("local", path);

    /// <summary>A database path no other test uses.</summary>
    public SqliteDatabase NewDatabase(string folder = "t") => Database($"{folder}/{Guid.NewGuid():N}.db");

    public async ValueTask InitializeAsync() =>
        await _cluster.StartAsync(Configure, silo => silo.AddIncomingGrainCallFilter(CountDatabaseCalls));

    public ValueTask DisposeAsync() => _cluster.DisposeAsync();

    private static void Configure(SqlitePoolOptions o)
    {
        o.HolderCheckInterval = TimeSpan.FromSeconds(1);
        // Tests read WAL sizes right after writing; the checkpoint governor has tests of its own ("walgov/**").
        o.CheckpointInterval = TimeSpan.FromMinutes(10);
        o.OnDatabaseOpened = OnOpened;
        o.Databases.Add(new DatabaseOverride { Pattern = "short/**", AcquireTimeout = TimeSpan.FromMilliseconds(300) });
        o.Databases.Add(new DatabaseOverride
        {
            Pattern = "walgov/**",
            WalLimitBytes = 1 << 20,
            MaxReaderSnapshotAge = TimeSpan.FromSeconds(2),
            CheckpointInterval = TimeSpan.FromMilliseconds(200),
        });
        o.AddMigrations("migrated/**",
            new Migration(1, "CREATE TABLE items(id INTEGER PRIMARY KEY, name TEXT NOT NULL); CREATE TABLE runs(version INTEGER)"),
            new Migration(2, "ALTER TABLE items ADD COLUMN price REAL; INSERT INTO runs VALUES (2)"),
            new Migration(3, "CREATE INDEX items_by_name ON items(name); INSERT INTO runs VALUES (3)"));
        o.AddMigrations("badmigration/**",
            new Migration(1, "CREATE TABLE a(x)"),
            new Migration(2, "CREATE TABLE b(y); INSERT INTO no_such_table VALUES (1)"),
            new Migration(3, "CREATE TABLE c(z)"));
        o.Databases.Add(new DatabaseOverride { Pattern = "ttl/**", LeaseIdleTimeout = TimeSpan.FromMilliseconds(300) });
        o.Databases.Add(new DatabaseOverride
        {
            Pattern = "overload/**",
            MaxReaders = 2,
            WriterQueueCapacity = 64,
            ReaderQueueCapacity = 64,
            AcquireTimeout = TimeSpan.FromSeconds(2),
        });
    }

    private static Task CountDatabaseCalls(IIncomingGrainCallContext call)
    {
        if (call.InterfaceName.Contains(nameof(IDatabaseGrain), StringComparison.Ordinal))
        {
            GrainCalls.AddOrUpdate(call.TargetId.Key.ToString()!, 1, (_, n) => n + 1);
        }

        return call.Invoke();
    }

    private static void OnOpened(DatabaseOpenContext context)
    {
        HookRuns.AddOrUpdate(context.Database, 1, (_, n) => n + 1);
        if (context.Database.Contains("/slowopen/", StringComparison.Ordinal))
        {
            Thread.Sleep(TimeSpan.FromSeconds(1)); // an open that takes a while (it runs on a SQLite thread)
        }

        // A deterministic slow statement for the scheduler-isolation test.
        context.Connection.CreateFunction("sleep_ms", (long ms) =>
        {
            Thread.Sleep(TimeSpan.FromMilliseconds(ms));
            return ms;
        });
    }
}

[CollectionDefinition(Name)]
public sealed class ClusterCollection : ICollectionFixture<ClusterFixture>
{
    public const string Name = "cluster";
}
