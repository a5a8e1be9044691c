namespace SqlitePool.Client;

/// <summary>The client side of a change subscription: the observer object and its reference, kept alive
/// until disposed (Orleans holds observers weakly).</summary>
internal sealed class ChangeSubscription(IDatabaseGrain grain, IGrainFactory grainFactory, ChangeListener listener, IDatabaseChangeObserver reference) : IAsyncDisposable
{
    private int _disposed;

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        try
        {
            await grain.UnsubscribeAsync(reference).ConfigureAwait(false);
        }
        finally
        {
            grainFactory.DeleteObjectReference<IDatabaseChangeObserver>(reference);
            GC.KeepAlive(listener);
        }
    }
}

/// <summary>Hands notifications to the subscriber's callback.</summary>
internal sealed class ChangeListener(Action<TablesChanged> onChanged) : IDatabaseChangeObserver
{
    public Task OnTablesChangedAsync(TablesChanged change)
    {
        onChanged(change);
        return Task.CompletedTask;
    }
}
