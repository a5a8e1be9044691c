using SqlitePool.Engine;

namespace SqlitePool.Grains;

/// <summary>
/// Finds leases whose holder is gone: a client that no longer answers its <see cref="ILeaseHolderObserver"/>,
/// or a grain whose silo membership has declared dead. Used on the database grain's turns only.
/// </summary>
internal sealed class LeaseHolderWatch(TimeSpan pingTimeout)
{
    private readonly Dictionary<LeaseId, ILeaseHolderObserver> _observers = [];

    public void Track(LeaseId lease, ILeaseHolderObserver observer) => _observers[lease] = observer;

    /// <summary>The leases to revoke, each with the reason the holder will read.</summary>
    public async Task<List<(LeaseId Lease, string Reason)>> FindAbandonedAsync(
        IReadOnlyList<(LeaseId Id, LeaseHolder Holder)> held, ClusterMembershipSnapshot membership)
    {
        var live = held.Select(l => l.Id).ToHashSet();
        foreach (var gone in _observers.Keys.Where(id => !live.Contains(id)).ToList())
        {
            _observers.Remove(gone);
        }

        var abandoned = new List<(LeaseId, string)>();
        foreach (var (id, holder) in held)
        {
            if (holder.Silo is { } silo && membership.GetSiloStatus(SiloAddress.FromParsableString(silo)) == SiloStatus.Dead)
            {
                abandoned.Add((id, $"its holder {holder.Caller} was on silo {silo}, which left the cluster"));
            }
        }

        var byObserver = _observers.Where(o => !abandoned.Any(a => a.Item1 == o.Key)).GroupBy(o => o.Value, o => o.Key).ToList();
        var pings = byObserver.Select(g => PingAsync(g.Key)).ToArray();
        var failures = await Task.WhenAll(pings);
        for (var i = 0; i < byObserver.Count; i++)
        {
            if (failures[i] is { } failure)
            {
                var caller = held.First(l => l.Id == byObserver[i].First()).Holder.Caller;
                abandoned.AddRange(byObserver[i].Select(id => (id, $"its holder {caller} did not answer ({failure})")));
            }
        }

        return abandoned;
    }

    private async Task<string?> PingAsync(ILeaseHolderObserver observer)
    {
        try
        {
            await observer.PingAsync().WaitAsync(pingTimeout);
            return null;
        }
        catch (TimeoutException)
        {
            return $"no reply within {pingTimeout.TotalSeconds:0.#} s";
        }
        catch (Exception ex)
        {
            return ex.GetType().Name;
        }
    }
}
