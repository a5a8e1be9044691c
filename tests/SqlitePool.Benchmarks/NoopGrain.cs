using Orleans.Concurrency;

namespace SqlitePool.Benchmarks;

/// <summary>A grain call that does nothing: the Orleans cost every scenario through the grain pays.</summary>
public interface INoopGrain : IGrainWithIntegerKey
{
    Task<int> PingAsync(int value);
}

[Reentrant]
internal sealed class NoopGrain : Grain, INoopGrain
{
    public Task<int> PingAsync(int value) => Task.FromResult(value);
}
