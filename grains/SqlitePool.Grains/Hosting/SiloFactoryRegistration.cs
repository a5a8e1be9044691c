namespace SqlitePool.Hosting;

/// <summary>Registers this silo's grain factories as the silo starts: with <see cref="LeaseRequesters"/>, so leases
/// taken by its grains name them and their silo, and with <see cref="SiloLocalDatabases"/>, so statement calls made
/// on this silo to its own open databases go straight to their pools.</summary>
internal sealed class SiloFactoryRegistration(
    IGrainFactory grainFactory,
    IClusterClient clusterClient,
    IGrainContextAccessor grainContext,
    ILocalSiloDetails silo,
    LocalCallRouter router) : ILifecycleParticipant<ISiloLifecycle>
{
    public void Participate(ISiloLifecycle lifecycle) =>
        lifecycle.Subscribe(nameof(SiloFactoryRegistration), ServiceLifecycleStage.RuntimeInitialize, _ =>
        {
            foreach (var factory in new IGrainFactory[] { grainFactory, clusterClient })
            {
                LeaseRequesters.RegisterSilo(factory, silo.SiloAddress, () => grainContext.GrainContext?.GrainId);
                SiloLocalDatabases.RegisterSilo(factory, router.Find);
            }

            return Task.CompletedTask;
        });
}
