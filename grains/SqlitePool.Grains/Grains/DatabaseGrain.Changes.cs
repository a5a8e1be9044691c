namespace SqlitePool.Grains;

/// <summary>Change notifications: the first subscriber turns tracking on in the engine; a timer sends what was
/// committed in each <see cref="Hosting.SqlitePoolOptions.ChangeNotificationInterval"/> to every subscriber.</summary>
internal sealed partial class DatabaseGrain
{
    private readonly HashSet<IDatabaseChangeObserver> _subscribers = [];
    private IGrainTimer? _notifier;

    public async Task SubscribeAsync(IDatabaseChangeObserver observer)
    {
        ArgumentNullException.ThrowIfNull(observer);
        await OpenThen(async p =>
        {
            await p.TrackChangesAsync();
            return true;
        });
        _subscribers.Add(observer);
        var every = options.Value.ChangeNotificationInterval;
        _notifier ??= this.RegisterGrainTimer(NotifyAsync, new GrainTimerCreationOptions(every, every) { Interleave = true });
    }

    public Task UnsubscribeAsync(IDatabaseChangeObserver observer)
    {
        _subscribers.Remove(observer);
        if (_subscribers.Count == 0)
        {
            _notifier?.Dispose();
            _notifier = null;
        }

        return Task.CompletedTask;
    }

    private Task NotifyAsync(CancellationToken cancellationToken)
    {
        if (_pool is not { } pool || pool.TakeChangedTables() is not { Length: > 0 } tables)
        {
            return Task.CompletedTask;
        }

        var change = new TablesChanged(this.GetPrimaryKeyString(), tables, DateTimeOffset.UtcNow);
        foreach (var subscriber in _subscribers)
        {
            // One-way: a slow or vanished subscriber holds nobody up.
            _ = subscriber.OnTablesChangedAsync(change);
        }

        return Task.CompletedTask;
    }
}
