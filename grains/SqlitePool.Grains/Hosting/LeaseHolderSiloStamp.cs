namespace SqlitePool.Hosting;

/// <summary>
/// Stamps lease requests sent from this silo with its address, so the database can revoke the lease when
/// this silo leaves the cluster (grains cannot answer liveness pings the way clients do).
/// </summary>
internal sealed class LeaseHolderSiloStamp(ILocalSiloDetails silo) : IOutgoingGrainCallFilter
{
    /// <summary>The <see cref="RequestContext"/> key carrying the holder's silo address.</summary>
    public const string Key = "SqlitePool.HolderSilo";

    public Task Invoke(IOutgoingGrainCallContext context) =>
        context.MethodName == nameof(IDatabaseGrain.AcquireLeaseAsync) && context.InterfaceMethod?.DeclaringType == typeof(IDatabaseGrain)
            ? InvokeStampedAsync(context)
            : context.Invoke();

    private async Task InvokeStampedAsync(IOutgoingGrainCallContext context)
    {
        // Set inside this async method, so the value leaves with this call only.
        RequestContext.Set(Key, silo.SiloAddress.ToParsableString());
        await context.Invoke();
    }
}
