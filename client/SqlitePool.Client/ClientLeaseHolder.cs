using System.Runtime.CompilerServices;

namespace SqlitePool.Client;

/// <summary>
/// The one <see cref="ILeaseHolderObserver"/> of a client process (per grain factory) that databases ping to
/// learn whether the holder of a lease is still there. Inside a silo's grains no observer can be created;
/// there the database watches the caller's silo instead.
/// </summary>
internal sealed class ClientLeaseHolder : ILeaseHolderObserver
{
    // The value keeps the observer alive as long as the factory: Orleans holds observers weakly.
    private static readonly ConditionalWeakTable<IGrainFactory, Registration> Registrations = new();

    public Task PingAsync() => Task.CompletedTask;

    /// <summary>The observer reference for <paramref name="factory"/>, or null where none can be made (grain code).</summary>
    public static ILeaseHolderObserver? For(IGrainFactory factory)
    {
        if (Registrations.TryGetValue(factory, out var known))
        {
            return known.Reference;
        }

        var holder = new ClientLeaseHolder();
        ILeaseHolderObserver reference;
        try
        {
            reference = factory.CreateObjectReference<ILeaseHolderObserver>(holder);
        }
        catch (InvalidOperationException)
        {
            // "Cannot create a local object reference from a grain": nothing is remembered, so code of the same
            // silo outside grains still gets its observer; the grain is identified by its id and silo instead.
            return null;
        }

        return Registrations.GetValue(factory, _ => new Registration(holder, reference)).Reference;
    }

    private sealed record Registration(ClientLeaseHolder Holder, ILeaseHolderObserver Reference);
}
