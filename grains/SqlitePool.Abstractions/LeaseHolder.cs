namespace SqlitePool;

/// <summary>Who holds a lease: the calling grain or client, and the silo it runs on when known.</summary>
/// <remarks>A lease whose holder's silo leaves the cluster, or whose client stops answering, is revoked and
/// its transaction rolled back.</remarks>
[GenerateSerializer, Immutable, Alias("SqlitePool.LeaseHolder")]
public sealed record LeaseHolder(
    [property: Id(0)] string Caller,
    [property: Id(1)] string? Silo,
    [property: Id(2)] bool IsClient)
{
    /// <summary>A holder the database could not identify (e.g. a lease taken by code outside Orleans).</summary>
    public static LeaseHolder Unknown { get; } = new("unknown", null, IsClient: false);

    /// <inheritdoc />
    public override string ToString() => Silo is null ? Caller : $"{Caller} on {Silo}";
}

/// <summary>Answers the database's liveness checks for a client process holding leases; the client library
/// registers one per <c>IClusterClient</c>.</summary>
[Alias("SqlitePool.ILeaseHolderObserver")]
public interface ILeaseHolderObserver : IGrainObserver
{
    /// <summary>Returns when the holder is alive.</summary>
    [Alias("Ping")]
    Task PingAsync();
}
