namespace SqlitePool.Engine;

/// <summary>Change notifications: once turned on, the writer records which tables each committed transaction
/// changed (see <see cref="ChangeTracker"/>); the host takes them at its own pace and tells subscribers.</summary>
public sealed partial class DatabasePool
{
    private ChangeTracker? _changes;

    /// <summary>Starts recording the tables committed writes change (idempotent). Costs a callback per row written.</summary>
    public async Task TrackChangesAsync()
    {
        if (_changes is not null)
        {
            return;
        }

        var tracker = new ChangeTracker();
        if (Interlocked.CompareExchange(ref _changes, tracker, null) is null)
        {
            await _writer.Worker.RunAsync(c =>
            {
                tracker.Install(c.Handle!);
                return true;
            }).ConfigureAwait(false);
        }
    }

    /// <summary>The tables changed by writes committed since the last call, sorted; empty when none or when not tracking.</summary>
    public string[] TakeChangedTables() => _changes?.TakeCommitted() ?? [];

    /// <summary>After a silo-local writer lease: what it committed becomes visible.</summary>
    private void SettleChanges(PooledConnection connection)
    {
        if (connection.IsWriter && _changes is { } changes && connection.Worker.ConnectionOrNull?.Handle is { } db)
        {
            changes.Settle(db);
        }
    }
}
