using SqlitePool.Placement;

namespace SqlitePool.Tests.MultiSilo;

/// <summary>A grain on a chosen silo (its key starts with the node) that subscribes to a database's changes.</summary>
public interface IChangeListenerGrain : IGrainWithStringKey
{
    Task ListenAsync(string node, string path);

    /// <summary>Every table name received so far, in arrival order.</summary>
    Task<string[]> GetSeenAsync();
}

[NodeAffinePlacement]
public sealed class ChangeListenerGrain : Grain, IChangeListenerGrain, IDatabaseChangeObserver
{
    private readonly List<string> _seen = [];

    public Task ListenAsync(string node, string path) =>
        GrainFactory.GetGrain<IDatabaseGrain>(new DatabaseId(node, path).GrainKey).SubscribeAsync(this.AsReference<IDatabaseChangeObserver>());

    public Task<string[]> GetSeenAsync() => Task.FromResult(_seen.ToArray());

    public Task OnTablesChangedAsync(TablesChanged change)
    {
        _seen.AddRange(change.Tables);
        return Task.CompletedTask;
    }
}
