namespace SqlitePool.Client;

/// <summary>A transaction on a writer lease, given to <see cref="SqliteDatabase.TransactionAsync{T}"/>.</summary>
public sealed class DatabaseTransaction : DatabaseLease
{
    internal DatabaseTransaction(IDatabaseGrain grain, LeaseId id)
        : base(grain, id, LeaseKind.Writer)
    {
    }

    /// <summary>True once committed or rolled back.</summary>
    public bool IsCompleted { get; private set; }

    /// <summary>Commits now; the transaction ends.</summary>
    public async Task CommitAsync(CancellationToken cancellationToken = default)
    {
        ThrowIfCompleted();
        await ExecuteAsync(new Statement("COMMIT"), cancellationToken).ConfigureAwait(false);
        IsCompleted = true;
    }

    /// <summary>Rolls back now; the transaction ends.</summary>
    public async Task RollbackAsync(CancellationToken cancellationToken = default)
    {
        ThrowIfCompleted();
        IsCompleted = true;
        await ExecuteAsync(new Statement("ROLLBACK"), cancellationToken).ConfigureAwait(false);
    }

    internal Task BeginAsync(CancellationToken cancellationToken) => ExecuteAsync(new Statement("BEGIN IMMEDIATE"), cancellationToken);

    internal async Task TryRollbackAsync()
    {
        if (IsCompleted)
        {
            return;
        }

        try
        {
            await RollbackAsync().ConfigureAwait(false);
        }
        catch (SqlitePoolException)
        {
            // Releasing the lease rolls back as well; the caller's exception is the one that matters.
        }
    }

    private void ThrowIfCompleted()
    {
        if (IsCompleted)
        {
            throw new InvalidOperationException("The transaction was already committed or rolled back.");
        }
    }
}
