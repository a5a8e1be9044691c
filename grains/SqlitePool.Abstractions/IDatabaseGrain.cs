namespace SqlitePool;

/// <summary>
/// The single activation that owns one SQLite database, keyed <c>node/path</c> (see <see cref="DatabaseId"/>).
/// It arbitrates one writer and several readers; the SQLite work runs on the silo's connection workers.
/// </summary>
/// <remarks>Most callers use the client library's <c>GetDatabase(...)</c> handle rather than this interface.</remarks>
[Alias("SqlitePool.IDatabaseGrain")]
public interface IDatabaseGrain : IGrainWithStringKey
{
    /// <summary>Runs a write (one or more statements) on the writer with autocommit semantics. Writes that wait
    /// together are committed together, each in a savepoint of its own: a failing write fails only its caller.</summary>
    [Alias("Execute")]
    Task<ExecuteResult> ExecuteAsync(Statement statement);

    /// <inheritdoc cref="ExecuteAsync(Statement)"/>
    /// <remarks>Cancelling interrupts the statement if it has started.</remarks>
    [Alias("ExecuteCancellable")]
    Task<ExecuteResult> ExecuteAsync(Statement statement, CancellationToken cancellationToken);

    /// <summary>Runs several independent autocommit writes in one call, each as <see cref="ExecuteAsync(Statement)"/>
    /// would: they join a commit group, and a write that fails is undone alone (its outcome carries its error).</summary>
    /// <remarks>The client library sends concurrent writes of one process together this way.</remarks>
    [Alias("ExecuteEach")]
    Task<ExecuteOutcome[]> ExecuteEachAsync(Statement[] statements);

    /// <summary>Runs the statements in one transaction on the writer: all succeed or none has an effect.</summary>
    [Alias("ExecuteBatch")]
    Task<ExecuteResult[]> ExecuteBatchAsync(Statement[] statements, CancellationToken cancellationToken = default);

    /// <summary>Runs a read on a reader connection; a statement that writes is refused with <see cref="WriteOnReadPathException"/>.</summary>
    [Alias("Query")]
    Task<QueryResult> QueryAsync(Statement statement);

    /// <inheritdoc cref="QueryAsync(Statement)"/>
    /// <remarks>Cancelling interrupts the statement. Orleans gives every call of a method with a token a
    /// cancellation source of its own, so the overload without one is the cheaper call.</remarks>
    [Alias("QueryCancellable")]
    Task<QueryResult> QueryAsync(Statement statement, CancellationToken cancellationToken);

    /// <summary>Runs several independent reads in one call, in order on one reader, all in one snapshot taken when
    /// the first starts. Each sees every write committed before the call was sent, as
    /// <see cref="QueryAsync(Statement)"/> would. A read that fails fails alone: its outcome carries its error.</summary>
    /// <remarks>The client library sends concurrent reads of one process together this way. Sharing one read
    /// transaction spares each read SQLite's transaction start and end, the larger part of a point SELECT.</remarks>
    [Alias("QueryEach")]
    Task<QueryOutcome[]> QueryEachAsync(Statement[] statements);

    /// <summary>Streams the rows of one read statement in batches of up to <paramref name="batchRows"/> rows, all
    /// from one snapshot, holding a reader until the enumeration ends. Only a batch at a time is in memory on the
    /// silo; the client asks for more as it reads.</summary>
    [Alias("Stream")]
    IAsyncEnumerable<QueryResult> StreamAsync(Statement statement, int batchRows = 1024, CancellationToken cancellationToken = default);

    /// <summary>Copies this database into the new database <paramref name="destination"/> (on this node or another),
    /// consistent while writes go on: the copy holds exactly what was committed when it began.</summary>
    /// <exception cref="DatabaseExistsException">The destination exists; nothing was written.</exception>
    [Alias("Backup")]
    Task<BackupResult> BackupAsync(DatabaseId destination, CancellationToken cancellationToken = default);

    /// <summary>Creates this database as a copy of <paramref name="source"/> (a backup, or any database on any node),
    /// streamed from the source's node and checked with <c>integrity_check</c> before it is put in place.</summary>
    /// <exception cref="DatabaseExistsException">This database exists; nothing was written.</exception>
    [Alias("RestoreFrom")]
    Task<BackupResult> RestoreFromAsync(DatabaseId source, CancellationToken cancellationToken = default);

    /// <summary>Creates this database from the continuous backup of <paramref name="source"/> (any database whose
    /// backup this node's settings name a target for: it need not exist any more), as of <paramref name="point"/>;
    /// checked with <c>integrity_check</c> before its name appears.</summary>
    /// <exception cref="DatabaseExistsException">This database exists; nothing was written.</exception>
    /// <exception cref="SqlitePoolException">No backup target is configured for the source, nothing is stored at or
    /// before the point, or the point is not a kept one.</exception>
    [Alias("RestoreFromBackup")]
    Task<BackupRestoreResult> RestoreFromBackupAsync(DatabaseId source, BackupPoint point, CancellationToken cancellationToken = default);

    /// <summary>Streams a consistent copy of the database file in chunks (what a restore on another node reads).</summary>
    [Alias("Export")]
    IAsyncEnumerable<byte[]> ExportAsync(CancellationToken cancellationToken = default);

    /// <summary>Subscribes <paramref name="observer"/> to the tables committed writes change (idempotent). Subscriptions
    /// live in the database's activation: subscribe again after a while (or when notifications stop) to be safe.</summary>
    [Alias("Subscribe")]
    Task SubscribeAsync(IDatabaseChangeObserver observer);

    /// <summary>Ends a subscription; unknown observers are ignored.</summary>
    [Alias("Unsubscribe")]
    Task UnsubscribeAsync(IDatabaseChangeObserver observer);

    /// <summary>Acquires a lease; it must be released, or it expires after the idle timeout. A client passes
    /// <paramref name="holder"/> so the database can revoke the lease when the client goes away; a grain's lease
    /// is revoked when its silo leaves, if the request names the grain and its silo (the client library's
    /// <c>SqliteDatabase</c> does, see <see cref="LeaseRequesters"/>).</summary>
    [Alias("AcquireLease")]
    Task<LeaseId> AcquireLeaseAsync(LeaseKind kind, ILeaseHolderObserver? holder = null, CancellationToken cancellationToken = default);

    /// <summary>Runs a statement on a leased connection (a write needs a writer or exclusive lease).</summary>
    [Alias("ExecuteOnLease")]
    Task<ExecuteResult> ExecuteOnLeaseAsync(LeaseId lease, Statement statement, CancellationToken cancellationToken = default);

    /// <summary>Runs a query on a leased connection.</summary>
    [Alias("QueryOnLease")]
    Task<QueryResult> QueryOnLeaseAsync(LeaseId lease, Statement statement, CancellationToken cancellationToken = default);

    /// <summary>Ends a lease; an open transaction on it is rolled back. Releasing twice is harmless.</summary>
    [Alias("ReleaseLease")]
    Task ReleaseLeaseAsync(LeaseId lease);

    /// <summary>A snapshot of the pool.</summary>
    [Alias("GetStatistics")]
    Task<PoolStatistics> GetStatisticsAsync();

    /// <summary>Drains the pool and closes readers then the writer (checkpointed, lock file released); change
    /// subscriptions end. A later call reopens it.</summary>
    [Alias("Close")]
    Task CloseAsync();
}
