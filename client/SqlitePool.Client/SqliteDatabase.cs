namespace SqlitePool.Client;

/// <summary>
/// A handle on one database in the cluster. Cheap to create and safe to share; every call goes to the
/// database's single grain activation on the node that holds the file. Made on that node's silo (in a grain, or
/// through the silo's own client), its statement calls go straight to the open database's pool instead, with the same
/// arbitration, results and errors, and no message.
/// </summary>
/// <remarks>Positional parameters bind <c>?</c>; for named ones (<c>$a</c>, <c>:a</c>, <c>@a</c>) pass a
/// <see cref="Statement"/> built with a dictionary. To pass a <see cref="CancellationToken"/>, use the
/// <see cref="Statement"/> overloads.</remarks>
public sealed class SqliteDatabase
{
    private readonly IGrainFactory _grainFactory;
    private readonly string _key;
    private readonly ISiloLocalCalls? _local;

    internal SqliteDatabase(DatabaseId id, IDatabaseGrain grain, IGrainFactory grainFactory)
    {
        Id = id;
        Grain = grain;
        _grainFactory = grainFactory;
        _key = id.GrainKey;
        _local = SiloLocalDatabases.Find(grainFactory, id, grain);
    }

    /// <summary>The database's node and path.</summary>
    public DatabaseId Id { get; }

    /// <summary>The database grain, for calls the handle does not wrap.</summary>
    public IDatabaseGrain Grain { get; }

    /// <summary>Runs a write with autocommit semantics.</summary>
    /// <exception cref="SqlStatementException">SQLite failed the statement; nothing was written.</exception>
    /// <remarks>Concurrent writes to one database from this process may share a grain call (see <see cref="ExecuteEachAsync"/>);
    /// each still joins a commit group on its own and gets its own result or error.</remarks>
    public Task<ExecuteResult> ExecuteAsync(string sql, params object?[] parameters) => ExecuteAsync(new Statement(sql, parameters));

    /// <inheritdoc cref="ExecuteAsync(string, object?[])"/>
    public Task<ExecuteResult> ExecuteAsync(Statement statement, CancellationToken cancellationToken = default) =>
        _local is not null ? _local.ExecuteAsync(statement, cancellationToken)
        : cancellationToken.CanBeCanceled ? Grain.ExecuteAsync(statement, cancellationToken)
        : CallCoalescer<ExecuteResult>.RunAsync(_grainFactory, Grain, _key, statement, SharedCalls.Writes);

    /// <summary>Runs independent autocommit writes in one call: each joins a commit group on its own, and a write
    /// that fails is undone alone (its outcome holds the error).</summary>
    public Task<ExecuteOutcome[]> ExecuteEachAsync(IEnumerable<Statement> statements) =>
        _local?.ExecuteEachAsync([.. statements]) ?? Grain.ExecuteEachAsync([.. statements]);

    /// <summary>Runs the statements in one transaction: all or nothing.</summary>
    /// <exception cref="SqlStatementException">A statement failed (see <see cref="SqlStatementException.StatementIndex"/>); nothing was written.</exception>
    public Task<ExecuteResult[]> ExecuteBatchAsync(IEnumerable<Statement> statements, CancellationToken cancellationToken = default) =>
        _local?.ExecuteBatchAsync([.. statements], cancellationToken) ?? Grain.ExecuteBatchAsync([.. statements], cancellationToken);

    /// <inheritdoc cref="ExecuteBatchAsync(IEnumerable{Statement}, CancellationToken)"/>
    public Task<ExecuteResult[]> ExecuteBatchAsync(params Statement[] statements) =>
        _local?.ExecuteBatchAsync(statements, CancellationToken.None) ?? Grain.ExecuteBatchAsync(statements);

    /// <summary>Runs a read on a reader connection.</summary>
    /// <exception cref="WriteOnReadPathException">The statement writes; use <see cref="ExecuteAsync(string, object?[])"/>.</exception>
    /// <remarks>Concurrent reads of one database from this process may share a grain call, or on the database's own silo
    /// one hand-off to a reader (see <see cref="QueryEachAsync"/>); each still gets its own result or error.</remarks>
    public Task<QueryResult> QueryAsync(string sql, params object?[] parameters) => QueryAsync(new Statement(sql, parameters));

    /// <inheritdoc cref="QueryAsync(string, object?[])"/>
    public Task<QueryResult> QueryAsync(Statement statement, CancellationToken cancellationToken = default) =>
        cancellationToken.CanBeCanceled ? _local?.QueryAsync(statement, cancellationToken) ?? Grain.QueryAsync(statement, cancellationToken)
        : _local is not null ? CallCoalescer<QueryResult>.RunAsync(_grainFactory, _local, _key, statement, SharedCalls.LocalReads)
        : CallCoalescer<QueryResult>.RunAsync(_grainFactory, Grain, _key, statement, SharedCalls.Reads);

    /// <summary>Runs independent reads in one call, in order on one reader and in one snapshot (each sees every
    /// write committed before the call); a read that fails fails alone (its outcome holds the error).</summary>
    public Task<QueryOutcome[]> QueryEachAsync(IEnumerable<Statement> statements) =>
        _local?.QueryEachAsync([.. statements]) ?? Grain.QueryEachAsync([.. statements]);

    /// <summary>Runs a read and maps each row to <typeparamref name="T"/> by column name (see <see cref="RowMapper{T}"/>).</summary>
    public Task<IReadOnlyList<T>> QueryAsync<T>(string sql, params object?[] parameters) => QueryAsync<T>(new Statement(sql, parameters));

    /// <inheritdoc cref="QueryAsync{T}(string, object?[])"/>
    public async Task<IReadOnlyList<T>> QueryAsync<T>(Statement statement, CancellationToken cancellationToken = default) =>
        RowMapper<T>.MapAll(await QueryAsync(statement, cancellationToken).ConfigureAwait(false));

    /// <summary>Runs a read that must return exactly one row, mapped to <typeparamref name="T"/>.</summary>
    /// <exception cref="InvalidOperationException">No row, or more than one.</exception>
    public Task<T> QuerySingleAsync<T>(string sql, params object?[] parameters) => QuerySingleAsync<T>(new Statement(sql, parameters));

    /// <inheritdoc cref="QuerySingleAsync{T}(string, object?[])"/>
    public async Task<T> QuerySingleAsync<T>(Statement statement, CancellationToken cancellationToken = default) =>
        RowMapper<T>.MapSingle(await QueryAsync(statement, cancellationToken).ConfigureAwait(false));

    /// <summary>Leases a reader: its statements share one snapshot until it is disposed.</summary>
    public Task<DatabaseLease> AcquireReaderAsync(CancellationToken cancellationToken = default) => AcquireAsync(LeaseKind.Reader, cancellationToken);

    /// <summary>Leases the writer; other writers wait until it is disposed.</summary>
    public Task<DatabaseLease> AcquireWriterAsync(CancellationToken cancellationToken = default) => AcquireAsync(LeaseKind.Writer, cancellationToken);

    /// <summary>Takes exclusive access: waits for every lease to end and holds new ones back until disposed.</summary>
    public Task<DatabaseLease> AcquireExclusiveAsync(CancellationToken cancellationToken = default) => AcquireAsync(LeaseKind.Exclusive, cancellationToken);

    /// <summary>Runs <paramref name="work"/> on a reader lease that is always returned.</summary>
    public Task<T> WithReaderAsync<T>(Func<DatabaseLease, Task<T>> work, CancellationToken cancellationToken = default) =>
        WithLeaseAsync(LeaseKind.Reader, work, cancellationToken);

    /// <summary>Runs <paramref name="work"/> on the writer lease, always returned; an open transaction is rolled back.</summary>
    public Task<T> WithWriterAsync<T>(Func<DatabaseLease, Task<T>> work, CancellationToken cancellationToken = default) =>
        WithLeaseAsync(LeaseKind.Writer, work, cancellationToken);

    /// <summary>Runs <paramref name="work"/> with exclusive access, always given back.</summary>
    public Task<T> ExclusiveAsync<T>(Func<DatabaseLease, Task<T>> work, CancellationToken cancellationToken = default) =>
        WithLeaseAsync(LeaseKind.Exclusive, work, cancellationToken);

    /// <inheritdoc cref="WithReaderAsync{T}(Func{DatabaseLease, Task{T}}, CancellationToken)"/>
    public Task WithReaderAsync(Func<DatabaseLease, Task> work, CancellationToken cancellationToken = default) =>
        WithLeaseAsync(LeaseKind.Reader, AsFunc(work), cancellationToken);

    /// <inheritdoc cref="WithWriterAsync{T}(Func{DatabaseLease, Task{T}}, CancellationToken)"/>
    public Task WithWriterAsync(Func<DatabaseLease, Task> work, CancellationToken cancellationToken = default) =>
        WithLeaseAsync(LeaseKind.Writer, AsFunc(work), cancellationToken);

    /// <inheritdoc cref="ExclusiveAsync{T}(Func{DatabaseLease, Task{T}}, CancellationToken)"/>
    public Task ExclusiveAsync(Func<DatabaseLease, Task> work, CancellationToken cancellationToken = default) =>
        WithLeaseAsync(LeaseKind.Exclusive, AsFunc(work), cancellationToken);

    /// <summary>
    /// Runs <paramref name="work"/> in a <c>BEGIN IMMEDIATE</c> transaction on a writer lease: committed when it
    /// returns (unless it committed or rolled back itself), rolled back when it throws.
    /// </summary>
    public async Task<T> TransactionAsync<T>(Func<DatabaseTransaction, Task<T>> work, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(work);
        var id = await RequestLeaseAsync(LeaseKind.Writer, cancellationToken).ConfigureAwait(false);
        await using var transaction = new DatabaseTransaction(Grain, id);
        await transaction.BeginAsync(cancellationToken).ConfigureAwait(false);
        T result;
        try
        {
            result = await work(transaction).ConfigureAwait(false);
        }
        catch
        {
            await transaction.TryRollbackAsync().ConfigureAwait(false);
            throw;
        }

        if (!transaction.IsCompleted)
        {
            await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        }

        return result;
    }

    /// <inheritdoc cref="TransactionAsync{T}(Func{DatabaseTransaction, Task{T}}, CancellationToken)"/>
    public Task TransactionAsync(Func<DatabaseTransaction, Task> work, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(work);
        return TransactionAsync<bool>(async tx => { await work(tx).ConfigureAwait(false); return true; }, cancellationToken);
    }

    /// <summary>Streams the rows of one read statement in batches (one snapshot, a reader held until the
    /// enumeration ends): for results too large to hold at once.</summary>
    public IAsyncEnumerable<QueryResult> StreamAsync(Statement statement, int batchRows = 1024, CancellationToken cancellationToken = default) =>
        Grain.StreamAsync(statement, batchRows, cancellationToken);

    /// <summary>Streams rows mapped to <typeparamref name="T"/> (see <see cref="StreamAsync(Statement, int, CancellationToken)"/>).</summary>
    public async IAsyncEnumerable<T> StreamAsync<T>(Statement statement, int batchRows = 1024, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        await foreach (var batch in StreamAsync(statement, batchRows, cancellationToken).ConfigureAwait(false))
        {
            foreach (var row in RowMapper<T>.MapAll(batch))
            {
                yield return row;
            }
        }
    }

    /// <summary>Copies this database into the new database <paramref name="destination"/> on any node, consistent
    /// while writes go on: the copy holds exactly what was committed when it began.</summary>
    /// <exception cref="DatabaseExistsException">The destination exists; nothing was written.</exception>
    public Task<BackupResult> BackupToAsync(DatabaseId destination, CancellationToken cancellationToken = default) =>
        Grain.BackupAsync(destination, cancellationToken);

    /// <summary>Creates this database as a copy of <paramref name="source"/> (a backup, or any database on any node).</summary>
    /// <exception cref="DatabaseExistsException">This database exists; nothing was written.</exception>
    public Task<BackupResult> RestoreFromAsync(DatabaseId source, CancellationToken cancellationToken = default) =>
        Grain.RestoreFromAsync(source, cancellationToken);

    /// <summary>Creates this database from the continuous backup of <paramref name="source"/>, as of
    /// <paramref name="point"/> (default: the latest stored transaction).</summary>
    /// <exception cref="DatabaseExistsException">This database exists; nothing was written.</exception>
    public Task<BackupRestoreResult> RestoreFromBackupAsync(DatabaseId source, BackupPoint point = default, CancellationToken cancellationToken = default) =>
        Grain.RestoreFromBackupAsync(source, point, cancellationToken);

    /// <summary>Calls <paramref name="onChanged"/> with the tables committed writes change, after each commit (at most
    /// once per notification interval) until the returned subscription is disposed. For client processes; a grain
    /// implements <see cref="IDatabaseChangeObserver"/> and subscribes itself through <see cref="Grain"/>.</summary>
    public async Task<IAsyncDisposable> SubscribeAsync(Action<TablesChanged> onChanged)
    {
        ArgumentNullException.ThrowIfNull(onChanged);
        var listener = new ChangeListener(onChanged);
        var reference = _grainFactory.CreateObjectReference<IDatabaseChangeObserver>(listener);
        await Grain.SubscribeAsync(reference).ConfigureAwait(false);
        return new ChangeSubscription(Grain, _grainFactory, listener, reference);
    }

    /// <summary>A snapshot of the database's pool.</summary>
    public Task<PoolStatistics> GetStatisticsAsync() => Grain.GetStatisticsAsync();

    /// <summary>Closes the database's pool (its files are checkpointed and released) and ends its change
    /// subscriptions; the next call opens it again. Calls waiting in the pool, or made while the close runs, may fail
    /// with <see cref="DatabaseClosedException"/>; calls made after it ended open the database again.</summary>
    public Task CloseAsync() => Grain.CloseAsync();

    private async Task<DatabaseLease> AcquireAsync(LeaseKind kind, CancellationToken cancellationToken) =>
        new(Grain, await RequestLeaseAsync(kind, cancellationToken).ConfigureAwait(false), kind);

    // The database learns the holder from the request: a client's liveness observer, a grain's id and silo.
    private async Task<LeaseId> RequestLeaseAsync(LeaseKind kind, CancellationToken cancellationToken)
    {
        var (silo, grain) = LeaseRequesters.Locate(_grainFactory);
        var observer = grain is null ? ClientLeaseHolder.For(_grainFactory) : null;
        // Stamped inside this async method, so the stamp leaves with this request only.
        LeaseRequesters.Stamp(silo, grain);
        return await Grain.AcquireLeaseAsync(kind, observer, cancellationToken).ConfigureAwait(false);
    }

    private async Task<T> WithLeaseAsync<T>(LeaseKind kind, Func<DatabaseLease, Task<T>> work, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(work);
        await using var lease = await AcquireAsync(kind, cancellationToken).ConfigureAwait(false);
        return await work(lease).ConfigureAwait(false);
    }

    private static Func<DatabaseLease, Task<bool>> AsFunc(Func<DatabaseLease, Task> work)
    {
        ArgumentNullException.ThrowIfNull(work);
        return async lease => { await work(lease).ConfigureAwait(false); return true; };
    }
}
