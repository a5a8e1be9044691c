namespace SqlitePool.Client;

/// <summary>A leased connection of a database. Dispose it to give it back (an open transaction is rolled
/// back); one left alone expires after the pool's idle timeout.</summary>
public class DatabaseLease : IAsyncDisposable
{
    private readonly IDatabaseGrain _grain;
    private int _released;

    internal DatabaseLease(IDatabaseGrain grain, LeaseId id, LeaseKind kind)
    {
        _grain = grain;
        Id = id;
        Kind = kind;
    }

    /// <summary>The lease's id.</summary>
    public LeaseId Id { get; }

    /// <summary>What the lease holds.</summary>
    public LeaseKind Kind { get; }

    /// <summary>Runs a statement on the leased connection (writes need a writer or exclusive lease).</summary>
    public Task<ExecuteResult> ExecuteAsync(string sql, params object?[] parameters) => ExecuteAsync(new Statement(sql, parameters));

    /// <inheritdoc cref="ExecuteAsync(string, object?[])"/>
    public Task<ExecuteResult> ExecuteAsync(Statement statement, CancellationToken cancellationToken = default) =>
        _grain.ExecuteOnLeaseAsync(Id, statement, cancellationToken);

    /// <summary>Runs a query on the leased connection.</summary>
    public Task<QueryResult> QueryAsync(string sql, params object?[] parameters) => QueryAsync(new Statement(sql, parameters));

    /// <inheritdoc cref="QueryAsync(string, object?[])"/>
    public Task<QueryResult> QueryAsync(Statement statement, CancellationToken cancellationToken = default) =>
        _grain.QueryOnLeaseAsync(Id, statement, cancellationToken);

    /// <summary>Runs a query and maps the rows to <typeparamref name="T"/>.</summary>
    public async Task<IReadOnlyList<T>> QueryAsync<T>(string sql, params object?[] parameters) =>
        RowMapper<T>.MapAll(await QueryAsync(new Statement(sql, parameters)).ConfigureAwait(false));

    /// <summary>Runs a query that returns exactly one row, mapped to <typeparamref name="T"/>.</summary>
    public async Task<T> QuerySingleAsync<T>(string sql, params object?[] parameters) =>
        RowMapper<T>.MapSingle(await QueryAsync(new Statement(sql, parameters)).ConfigureAwait(false));

    /// <summary>Gives the lease back; later calls do nothing.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _released, 1) == 0)
        {
            await _grain.ReleaseLeaseAsync(Id).ConfigureAwait(false);
        }

        GC.SuppressFinalize(this);
    }
}
