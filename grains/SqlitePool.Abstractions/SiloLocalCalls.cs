using System.ComponentModel;
using System.Runtime.CompilerServices;

namespace SqlitePool;

/// <summary>
/// The statement calls of one database, made by code on the silo that holds it: straight to the database's pool
/// while it is open there (no grain message, no copy), otherwise through its grain, which opens it. The client
/// library uses it for handles made through a silo's grain factory (<see cref="SiloLocalDatabases"/>); the
/// arbitration is the pool's in both cases, so callers see the same results, errors and order.
/// </summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public interface ISiloLocalCalls
{
    /// <inheritdoc cref="IDatabaseGrain.ExecuteAsync(Statement, CancellationToken)"/>
    Task<ExecuteResult> ExecuteAsync(Statement statement, CancellationToken cancellationToken);

    /// <inheritdoc cref="IDatabaseGrain.ExecuteBatchAsync(Statement[], CancellationToken)"/>
    Task<ExecuteResult[]> ExecuteBatchAsync(Statement[] statements, CancellationToken cancellationToken);

    /// <inheritdoc cref="IDatabaseGrain.QueryAsync(Statement, CancellationToken)"/>
    Task<QueryResult> QueryAsync(Statement statement, CancellationToken cancellationToken);

    /// <inheritdoc cref="IDatabaseGrain.ExecuteEachAsync(Statement[])"/>
    Task<ExecuteOutcome[]> ExecuteEachAsync(Statement[] statements);

    /// <inheritdoc cref="IDatabaseGrain.QueryEachAsync(Statement[])"/>
    Task<QueryOutcome[]> QueryEachAsync(Statement[] statements);

    /// <summary>Runs reads as <see cref="QueryEachAsync(Statement[])"/> does, for callers that began to wait at
    /// <paramref name="waitingSince"/> (a timestamp of <see cref="Time"/>) for a hand-off they share: their wait for a
    /// reader counts from then, so it ends within <see cref="AcquireTimeout"/> of it. Through the grain (the database
    /// is not open here) it counts from the grain's call.</summary>
    Task<QueryOutcome[]> QueryEachAsync(Statement[] statements, long waitingSince);

    /// <summary>The clock of the database's pool.</summary>
    TimeProvider Time { get; }

    /// <summary>How long a read may wait for a reader: the database's <c>AcquireTimeout</c>.</summary>
    TimeSpan AcquireTimeout { get; }
}

/// <summary>Where the silo hosting registers its grain factories, so that the client library can tell a handle made
/// on a silo for one of that silo's own databases (<see cref="ISiloLocalCalls"/>).</summary>
[EditorBrowsable(EditorBrowsableState.Never)]
public static class SiloLocalDatabases
{
    private static readonly ConditionalWeakTable<IGrainFactory, Func<DatabaseId, IDatabaseGrain, ISiloLocalCalls?>> Silos = new();

    /// <summary>Marks <paramref name="factory"/> as a silo's: <paramref name="find"/> gives the local calls of a
    /// database of that silo (falling back on its grain), or null for a database of another node.</summary>
    public static void RegisterSilo(IGrainFactory factory, Func<DatabaseId, IDatabaseGrain, ISiloLocalCalls?> find)
    {
        ArgumentNullException.ThrowIfNull(factory);
        ArgumentNullException.ThrowIfNull(find);
        Silos.AddOrUpdate(factory, find);
    }

    /// <summary>The local calls of <paramref name="database"/> when <paramref name="factory"/> is the grain factory of
    /// the silo that holds it; null in a client process or for another node's database.</summary>
    public static ISiloLocalCalls? Find(IGrainFactory factory, DatabaseId database, IDatabaseGrain grain) =>
        Silos.TryGetValue(factory, out var find) ? find(database, grain) : null;
}
