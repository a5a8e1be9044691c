namespace SqlitePool.Grains;

/// <summary>Change notifications: the first subscriber turns tracking on in the engine; a timer sends what was
/// committed in each <see cref="Hosting.SqlitePoolOptions.ChangeNotificationInterval"/> to every subscriber.</summary>
internal sealed partial class DatabaseGrain
{
    private readonly HashSet<IDatabaseChangeObserver> _subscribers = [];
    private IGrainTimer? _notifier;

    // Calls interleave: tracking turned off for the last subscriber must not overtake a new subscriber's turning it on.
    private readonly SemaphoreSlim _subscriptions = new(1, 1);

    public async Task SubscribeAsync(IDatabaseChangeObserver observer)
    {
        ArgumentNullException.ThrowIfNull(observer);
        await _subscriptions.WaitAsync();
        try
        {
            // A close that came while tracking turned on closed that pool: tracking goes on the pool that opens next.
            while ((await OpenThen(async p =>
            {
                await p.TrackChangesAsync();
                return p;
            })).IsClosed)
            {
            }

            _subscribers.Add(observer);
            var every = options.Value.ChangeNotificationInterval;
            _notifier ??= this.RegisterGrainTimer(NotifyAsync, new GrainTimerCreationOptions(every, every) { Interleave = true });
        }
        finally
        {
            _subscriptions.Release();
        }
    }

    public async Task UnsubscribeAsync(IDatabaseChangeObserver observer)
    {
        await _subscriptions.WaitAsync();
        try
        {
            if (!_subscribers.Remove(observer) || _subscribers.Count > 0)
            {
                return;
            }

            // Nobody listens: no timer, no hooks, and the database may close again when idle.
            _notifier?.Dispose();
            _notifier = null;
            if (_pool is { IsClosed: false } pool)
            {
                try
                {
                    await pool.StopTrackingChangesAsync();
                }
                catch (Exception ex) when (ex is SqlitePoolException or DatabaseTimeoutException)
                {
                    // The writer stayed busy past AcquireTimeout, or the pool closed: tracking stays on (or went with it).
                }
            }
        }
        finally
        {
            _subscriptions.Release();
        }
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
