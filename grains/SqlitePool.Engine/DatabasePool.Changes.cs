namespace SqlitePool.Engine;

/// <summary>Change notifications: once turned on, the writer records which tables each committed transaction
/// changed (see <see cref="ChangeTracker"/>); the host takes them at its own pace and tells subscribers.</summary>
public sealed partial class DatabasePool
{
    private volatile ChangeTracker? _changes;

    /// <summary>Starts recording the tables committed writes change (idempotent). Costs a callback per row written.</summary>
    /// <remarks>Turned on under the writer's arbitration, between two holders: a transaction already open when it was
    /// asked for is not reported at all rather than in part.</remarks>
    public async Task TrackChangesAsync()
    {
        if (_changes is not null)
        {
            return;
        }

        var writer = await AcquireConnectionAsync(LeaseKind.Writer, CancellationToken.None).ConfigureAwait(false);
        try
        {
            await writer.Worker.RunAsync(c =>
            {
                if (_changes is null)
                {
                    var tracker = new ChangeTracker();
                    tracker.Install(c.Handle!, writer.Worker);
                    writer.Worker.Policy!.Changes = tracker;
                    _changes = tracker;
                }

                return true;
            }).ConfigureAwait(false);
        }
        finally
        {
            ReleaseConnection(writer, LeaseKind.Writer);
        }
    }

    /// <summary>Stops recording changed tables (idempotent): the writer's hooks come off, between two holders of the
    /// writer, and the database may close again when idle.</summary>
    public async Task StopTrackingChangesAsync()
    {
        if (_changes is null || IsClosed)
        {
            return;
        }

        var writer = await AcquireConnectionAsync(LeaseKind.Writer, CancellationToken.None).ConfigureAwait(false);
        try
        {
            await writer.Worker.RunAsync(c =>
            {
                if (_changes is not null)
                {
                    ChangeTracker.Uninstall(c.Handle!);
                    writer.Worker.Changes = null;
                    writer.Worker.Policy!.Changes = null;
                    _changes = null;
                }

                return true;
            }).ConfigureAwait(false);
        }
        finally
        {
            ReleaseConnection(writer, LeaseKind.Writer);
        }
    }

    /// <summary>The tables changed by writes committed since the last call, sorted; empty when none or when not tracking.</summary>
    public string[] TakeChangedTables() => _changes?.TakeCommitted() ?? [];
}
