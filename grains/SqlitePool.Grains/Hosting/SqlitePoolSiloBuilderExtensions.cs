using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using SqlitePool.Diagnostics;
using SqlitePool.Engine;
using SqlitePool.Grains;
using SqlitePool.Placement;

namespace SqlitePool.Hosting;

/// <summary>Adds the SQLite pool (database grains, pool engine, options) to a silo.</summary>
public static class SqlitePoolSiloBuilderExtensions
{
    /// <summary>Adds the pool with settings from code.</summary>
    public static ISiloBuilder AddSqlitePool(this ISiloBuilder builder, Action<SqlitePoolOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        AddCore(builder);
        if (configure is not null)
        {
            builder.Services.Configure(configure);
        }

        return builder;
    }

    /// <summary>Adds the pool with settings bound from a configuration section (usually <c>SqlitePool</c>), then <paramref name="configure"/>.</summary>
    public static ISiloBuilder AddSqlitePool(this ISiloBuilder builder, IConfiguration section, Action<SqlitePoolOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(section);
        builder.Services.Configure<SqlitePoolOptions>(section);
        return builder.AddSqlitePool(configure);
    }

    private static void AddCore(ISiloBuilder builder)
    {
        var services = builder.Services;
        builder.AddPlacementDirector<NodeAffinePlacement, NodeAffinePlacementDirector>();
        services.AddOptions<SiloOptions>().PostConfigure<IOptions<SqlitePoolOptions>>((silo, pool) =>
        {
            if (!string.IsNullOrEmpty(pool.Value.NodeName))
            {
                silo.SiloName = pool.Value.NodeName;
            }
        });
        services.AddOptions<SqlitePoolOptions>();
        services.TryAddSingleton(TimeProvider.System);
        services.AddMetrics();
        services.TryAddSingleton<SqlitePoolMetrics>();
        services.TryAddSingleton(sp =>
        {
            var pool = sp.GetRequiredService<IOptions<SqlitePoolOptions>>().Value;
            if (pool.SqliteSoftHeapLimitBytes > 0)
            {
                SQLitePCL.raw.sqlite3_soft_heap_limit64(pool.SqliteSoftHeapLimitBytes);
            }

            return new SqliteScheduler(new SqliteSchedulerOptions { MinThreads = pool.SchedulerMinThreads, MaxThreads = pool.SchedulerMaxThreads });
        });
        services.TryAddSingleton(sp => sp.GetRequiredService<IOptions<SqlitePoolOptions>>().Value.MaxOpenFiles is > 0 and var files
            ? new OpenFileBudget(files)
            : OpenFileBudget.FromProcessLimit());
        services.TryAddSingleton<DatabasePoolRegistry>();
        services.AddOptions<GrainCollectionOptions>().PostConfigure<IOptions<SqlitePoolOptions>>((collection, pool) =>
        {
            // The engine closes an idle database itself; its activation goes at the same age (Orleans allows no less
            // than a little over its collection quantum).
            if (pool.Value.DatabaseIdleTimeout != Timeout.InfiniteTimeSpan)
            {
                var floor = collection.CollectionQuantum + TimeSpan.FromSeconds(1);
                collection.ClassSpecificCollectionAge[typeof(DatabaseGrain).FullName!] = pool.Value.DatabaseIdleTimeout > floor ? pool.Value.DatabaseIdleTimeout : floor;
            }
        });
        services.TryAddSingleton<LocalDatabases>();
        services.TryAddSingleton(LocalCallRouter.Create);
        services.AddSingleton<ILifecycleParticipant<ISiloLifecycle>, SiloFactoryRegistration>();
        services.AddSingleton<IConfigurationValidator, SqlitePoolOptionsValidator>();
    }
}
