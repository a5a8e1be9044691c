namespace SqlitePool.Hosting;

/// <summary>Registers this silo's grain factories with <see cref="LeaseRequesters"/> as the silo starts, so leases
/// taken by its grains name them and their silo.</summary>
internal sealed class LeaseRequesterRegistration(
    IGrainFactory grainFactory,
    IClusterClient clusterClient,
    IGrainContextAccessor grainContext,
    ILocalSiloDetails silo) : ILifecycleParticipant<ISiloLifecycle>
{
    public void Participate(ISiloLifecycle lifecycle) =>
        lifecycle.Subscribe(nameof(LeaseRequesterRegistration), ServiceLifecycleStage.RuntimeInitialize, _ =>
        {
            foreach (var factory in new IGrainFactory[] { grainFactory, clusterClient })
            {
                LeaseRequesters.RegisterSilo(factory, silo.SiloAddress, () => grainContext.GrainContext?.GrainId);
            }

            return Task.CompletedTask;
        });
}
