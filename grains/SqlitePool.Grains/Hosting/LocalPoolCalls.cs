using SqlitePool.Engine;

namespace SqlitePool.Hosting;

/// <summary>
/// The statement calls of one of this silo's databases, made by code on this silo (see <see cref="LocalCallRouter"/>).
/// A call goes to the open pool as the grain would send it, with the same arbitration, results and errors. A pool
/// that closed refuses a call before any of it runs (<see cref="DatabaseClosedException"/> at its entry): that call
/// goes to the grain, which opens the database again.
/// </summary>
internal sealed class LocalPoolCalls(LocalCallRouter router, IDatabaseGrain grain, DatabaseId id) : ISiloLocalCalls
{
    private string? _fullPath;
    private LocalCallRouter.PoolRoute? _route;

    public Task<ExecuteResult> ExecuteAsync(Statement statement, CancellationToken cancellationToken) =>
        Route(statement, cancellationToken, static (p, s, c) => p.ExecuteAsync(s, c), static (g, s, c) => c.CanBeCanceled ? g.ExecuteAsync(s, c) : g.ExecuteAsync(s));

    public Task<ExecuteResult[]> ExecuteBatchAsync(Statement[] statements, CancellationToken cancellationToken) =>
        Route(statements, cancellationToken, static (p, s, c) => p.ExecuteBatchAsync(s, c), static (g, s, c) => g.ExecuteBatchAsync(s, c));

    public Task<QueryResult> QueryAsync(Statement statement, CancellationToken cancellationToken) =>
        Route(statement, cancellationToken, OnPlainThread() ? static (p, s, c) => p.QueryOnCallerAsync(s, c) : static (p, s, c) => p.QueryAsync(s, c), static (g, s, c) => c.CanBeCanceled ? g.QueryAsync(s, c) : g.QueryAsync(s));

    /// <summary>True outside any Orleans turn (and any other scheduler or synchronization context): a web request, a
    /// hosted service, a thread of its own. Only such a caller's thread may run a read itself: a grain's turn never
    /// waits on SQLite (DESIGN invariant 6).</summary>
    private static bool OnPlainThread() => TaskScheduler.Current == TaskScheduler.Default && SynchronizationContext.Current is null;

    public Task<ExecuteOutcome[]> ExecuteEachAsync(Statement[] statements) =>
        Route(statements, CancellationToken.None, static (p, s, _) => p.ExecuteEachAsync(s), static (g, s, _) => g.ExecuteEachAsync(s));

    public Task<QueryOutcome[]> QueryEachAsync(Statement[] statements) =>
        Route(statements, CancellationToken.None, static (p, s, _) => p.QueryEachAsync(s), static (g, s, _) => g.QueryEachAsync(s));

    public Task<QueryOutcome[]> QueryEachAsync(Statement[] statements, long waitingSince) =>
        Route((statements, waitingSince), CancellationToken.None, static (p, a, _) => p.QueryEachAsync(a.statements, a.waitingSince), static (g, a, _) => g.QueryEachAsync(a.statements));

    public TimeProvider Time => router.Time;

    public TimeSpan AcquireTimeout => router.Open(_fullPath ??= router.NameOf(id))?.Pool.Options.AcquireTimeout ?? router.SettingsFor(id).AcquireTimeout;

    private Task<T> Route<T, TArgument>(
        TArgument argument,
        CancellationToken cancellationToken,
        Func<DatabasePool, TArgument, CancellationToken, Task<T>> direct,
        Func<IDatabaseGrain, TArgument, CancellationToken, Task<T>> throughGrain)
    {
        if (OpenPool() is { } pool)
        {
            Task<T> task;
            try
            {
                task = direct(pool, argument, cancellationToken);
            }
            catch (OperationCanceledException ex) when (ex.CancellationToken.IsCancellationRequested)
            {
                return Task.FromCanceled<T>(ex.CancellationToken);
            }
            catch (Exception ex) when (ex is not DatabaseClosedException)
            {
                // An error is the task's, never thrown at the caller.
                return Task.FromException<T>(ex);
            }
            catch (DatabaseClosedException)
            {
                return throughGrain(grain, argument, cancellationToken);
            }

            // Refused at the pool's entry (it closed since it was found, and the call never ran), or a read run on
            // this thread stopped by the close: either way nothing of it stays, and the grain runs it anew.
            if (!(task.IsFaulted && task.Exception!.InnerException is DatabaseClosedException))
            {
                return task;
            }
        }

        return throughGrain(grain, argument, cancellationToken);
    }

    /// <summary>The open pool to call, or null to go through the grain: the database is not open here, or the
    /// activation is due a call to keep it.</summary>
    private DatabasePool? OpenPool()
    {
        var route = _route;
        if (route is null || route.Pool.IsClosed)
        {
            route = router.Open(_fullPath ??= router.NameOf(id));
            if (route is null)
            {
                return null;
            }

            _route = route;
        }

        return router.TouchDue(route) ? null : route.Pool;
    }
}
