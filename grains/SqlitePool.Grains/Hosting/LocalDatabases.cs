using Microsoft.Extensions.Options;
using SqlitePool.Engine;

namespace SqlitePool.Hosting;

/// <summary>
/// This silo's databases, addressed without naming the node: inject it into grains or services that run
/// on the silo. With the client library, <c>Get("orders.db")</c> is <c>GrainFactory.GetDatabase(Node, "orders.db")</c>;
/// <c>OpenLocalAsync("orders.db")</c> gives synchronous connection leases on the same pool.
/// </summary>
public sealed class LocalDatabases(IGrainFactory grainFactory, ILocalSiloDetails silo, DatabasePoolRegistry registry, IOptions<SqlitePoolOptions> options) : ILocalNode
{
    /// <summary>This silo's node name.</summary>
    public string Node => silo.Name;

    /// <inheritdoc />
    public IGrainFactory GrainFactory => grainFactory;

    /// <summary>Opens this silo's database at <paramref name="path"/> (activating its grain) for synchronous
    /// connection leases: the cheapest way for code on this silo to run many small statements.</summary>
    /// <exception cref="InvalidDatabasePathException">The path is invalid.</exception>
    public async Task<LocalDatabase> OpenLocalAsync(string path)
    {
        var id = new DatabaseId(Node, path);
        var local = new LocalDatabase(id, grainFactory.GetGrain<IDatabaseGrain>(id.GrainKey), new DataRoot(options.Value.DataRoot).Resolve(id), registry);
        await local.EnsureOpenAsync().ConfigureAwait(false);
        return local;
    }
}

/// <summary>A database of this silo used through synchronous leases of its pool's connections.</summary>
public sealed class LocalDatabase
{
    private readonly IDatabaseGrain _database;
    private readonly string _fullPath;
    private readonly DatabasePoolRegistry _registry;
    private DatabasePool? _pool;

    internal LocalDatabase(DatabaseId id, IDatabaseGrain database, string fullPath, DatabasePoolRegistry registry)
    {
        Id = id;
        _database = database;
        _fullPath = fullPath;
        _registry = registry;
    }

    /// <summary>The database's node and path.</summary>
    public DatabaseId Id { get; }

    /// <summary>Takes a reader connection; returns at once when one is free, else blocks up to AcquireTimeout.</summary>
    /// <remarks>If the database closed since (its grain deactivated), this call reopens it first, blocking.</remarks>
    public ConnectionLease AcquireReader() => Acquire(LeaseKind.Reader);

    /// <summary>Takes the writer connection (see <see cref="AcquireReader"/>).</summary>
    public ConnectionLease AcquireWriter() => Acquire(LeaseKind.Writer);

    internal async Task EnsureOpenAsync()
    {
        // Any call opens the pool in the database's activation, which lives on this silo. The pool may close by itself
        // (idle, or for another database's files) before it is found: then the next call opens it again.
        for (var attempt = 0; ; attempt++)
        {
            await _database.GetStatisticsAsync().ConfigureAwait(false);
            if (_registry.Find(_fullPath) is { } pool)
            {
                _pool = pool;
                return;
            }

            if (attempt == 2)
            {
                throw new DatabaseNodeUnavailableException(Id.GrainKey, Id.Node, []);
            }
        }
    }

    private DatabasePool Pool()
    {
        if (_pool is { IsClosed: false } pool)
        {
            return pool;
        }

        EnsureOpenAsync().GetAwaiter().GetResult();
        return _pool!;
    }

    private ConnectionLease Acquire(LeaseKind kind)
    {
        while (true)
        {
            var pool = Pool();
            try
            {
                return pool.AcquireLocal(kind);
            }
            catch (DatabaseClosedException) when (pool.Retired)
            {
                // Closed by itself before the lease got in: take it from the pool that opens next.
            }
        }
    }
}
