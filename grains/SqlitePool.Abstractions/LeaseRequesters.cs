using System.ComponentModel;
using System.Runtime.CompilerServices;

namespace SqlitePool;

/// <summary>
/// Tells a database who asks for a lease. A grain call filter could read the caller, but any filter makes
/// every call slower, so lease requests carry the caller in <see cref="RequestContext"/> instead: the silo
/// hosting registers its grain factories here at start, and the client library stamps each lease request
/// made through one of them with the calling grain and the silo.
/// </summary>
/// <remarks>A lease taken by calling <see cref="IDatabaseGrain.AcquireLeaseAsync"/> directly from a grain,
/// not through the client library, has an unknown holder and ends only by release or idle timeout.</remarks>
[EditorBrowsable(EditorBrowsableState.Never)]
public static class LeaseRequesters
{
    /// <summary>The <see cref="RequestContext"/> key carrying the calling grain's id.</summary>
    public const string CallerKey = "SqlitePool.HolderCaller";

    /// <summary>The <see cref="RequestContext"/> key carrying the caller's silo address.</summary>
    public const string SiloKey = "SqlitePool.HolderSilo";

    private static readonly ConditionalWeakTable<IGrainFactory, SiloFactory> Silos = new();

    /// <summary>Marks <paramref name="factory"/> as a silo's; <paramref name="callingGrain"/> gives the grain whose turn is running, if any.</summary>
    public static void RegisterSilo(IGrainFactory factory, SiloAddress silo, Func<GrainId?> callingGrain)
    {
        ArgumentNullException.ThrowIfNull(factory);
        Silos.AddOrUpdate(factory, new SiloFactory(silo, callingGrain));
    }

    /// <summary>Where code calling through <paramref name="factory"/> runs: its silo (null in a client process)
    /// and the grain whose turn is running (null outside grain code).</summary>
    public static (SiloAddress? Silo, GrainId? Grain) Locate(IGrainFactory factory) =>
        Silos.TryGetValue(factory, out var registered) ? (registered.Silo, registered.CallingGrain()) : (null, null);

    /// <summary>Stamps the current <see cref="RequestContext"/>; call it in the async method that sends the request.</summary>
    public static void Stamp(SiloAddress? silo, GrainId? grain)
    {
        if (silo is not null)
        {
            RequestContext.Set(SiloKey, silo.ToParsableString());
        }

        if (grain is { } id)
        {
            RequestContext.Set(CallerKey, id.ToString());
        }
    }

    private sealed record SiloFactory(SiloAddress Silo, Func<GrainId?> CallingGrain);
}
