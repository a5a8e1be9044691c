using System.Runtime.CompilerServices;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using SqlitePool.Engine;
using SqlitePool.Grains;

namespace SqlitePool.Hosting;

/// <summary>
/// Sends the statement calls of code on this silo to its own open databases without a grain message
/// (<see cref="ISiloLocalCalls"/>). A database that is not open here goes through its grain, which opens it; and so
/// does one call in every quarter of the grain's collection age after that (or after the first call to a pool its grain
/// did not open), so that an activation whose database is used only this way is not collected. (One that is collected anyway, its callers all in a long
/// statement, leaves a pool in use open: see <c>DatabaseGrain.OnDeactivateAsync</c>.)
/// </summary>
internal sealed class LocalCallRouter
{
    private readonly string _node;
    private readonly DatabasePoolRegistry _registry;
    private readonly TimeProvider _time;
    private readonly DataRoot _root;
    private readonly TimeSpan _touchEvery;
    private readonly SqlitePoolOptions? _settings;
    private readonly ConditionalWeakTable<DatabasePool, PoolRoute> _routes = new();
    private readonly ConditionalWeakTable<DatabasePool, PoolRoute>.CreateValueCallback _newRoute;

    /// <summary>Routes calls to <paramref name="registry"/>'s pools of the databases of node <paramref name="node"/>
    /// under <paramref name="dataRoot"/>; one call in every quarter of <paramref name="collectionAge"/> goes through the grain.
    /// A database not open here has the <paramref name="settings"/> its grain would open it with (the defaults when none).</summary>
    public LocalCallRouter(string node, string dataRoot, DatabasePoolRegistry registry, TimeSpan collectionAge, TimeProvider time, SqlitePoolOptions? settings = null)
    {
        _node = node;
        _settings = settings;
        _registry = registry;
        _time = time;
        _root = new DataRoot(dataRoot);
        _touchEvery = collectionAge / 4;
        // Due at once: the activation's idle time counts from its last message, which may be most of an age ago.
        _newRoute = pool => new PoolRoute(pool, _time.GetTimestamp() - (long)(_touchEvery.TotalSeconds * _time.TimestampFrequency) - 1);
    }

    /// <summary>The router of this silo: the database grain's collection age as configured.</summary>
    public static LocalCallRouter Create(IServiceProvider services)
    {
        var collection = services.GetRequiredService<IOptions<GrainCollectionOptions>>().Value;
        var age = collection.ClassSpecificCollectionAge.TryGetValue(typeof(DatabaseGrain).FullName!, out var specific) ? specific : collection.CollectionAge;
        var settings = services.GetRequiredService<IOptions<SqlitePoolOptions>>().Value;
        return new LocalCallRouter(
            services.GetRequiredService<ILocalSiloDetails>().Name,
            settings.DataRoot,
            services.GetRequiredService<DatabasePoolRegistry>(),
            age,
            services.GetRequiredService<TimeProvider>(),
            settings);
    }

    /// <summary>The local calls of <paramref name="id"/> (whose grain is <paramref name="grain"/>), or null when it is
    /// another node's database.</summary>
    public ISiloLocalCalls? Find(DatabaseId id, IDatabaseGrain grain) =>
        string.Equals(id.Node, _node, StringComparison.Ordinal) ? new LocalPoolCalls(this, grain, id) : null;

    /// <summary>The clock of the pools.</summary>
    public TimeProvider Time => _time;

    /// <summary>The settings <paramref name="id"/> opens with.</summary>
    public DatabaseOptions SettingsFor(DatabaseId id) => _settings?.ResolveFor(id.Path) ?? new DatabaseOptions();

    /// <summary>The full path of <paramref name="id"/>, as the pool of an open database is known by.</summary>
    public string NameOf(DatabaseId id) => _root.Name(id);

    /// <summary>The route to the open pool of <paramref name="fullPath"/>, or null when it is not open.</summary>
    public PoolRoute? Open(string fullPath) => _registry.Find(fullPath) is { } pool ? _routes.GetValue(pool, _newRoute) : null;

    /// <summary>The grain of <paramref name="pool"/> has just opened it (on a message): the next call through it is due
    /// a quarter of the collection age from now, not at once.</summary>
    public void Touched(DatabasePool pool) => Volatile.Write(ref _routes.GetValue(pool, _newRoute).RoutedAt, _time.GetTimestamp());

    /// <summary>True when this call should go through the grain to keep its activation: the first in
    /// <see cref="_touchEvery"/> (several racing callers may each go, which is harmless).</summary>
    public bool TouchDue(PoolRoute route)
    {
        var now = _time.GetTimestamp();
        if (_time.GetElapsedTime(Volatile.Read(ref route.RoutedAt), now) < _touchEvery)
        {
            return false;
        }

        Volatile.Write(ref route.RoutedAt, now);
        return true;
    }

    /// <summary>An open pool, and when a call last went to it through its grain.</summary>
    internal sealed class PoolRoute(DatabasePool pool, long routedAt)
    {
        public readonly DatabasePool Pool = pool;
        public long RoutedAt = routedAt;
    }
}
