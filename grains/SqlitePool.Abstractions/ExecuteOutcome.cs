namespace SqlitePool;

/// <summary>What became of one write of <see cref="IDatabaseGrain.ExecuteEachAsync"/>: its result, or the error
/// it alone failed with (nothing of it was written).</summary>
[GenerateSerializer, Immutable, Alias("SqlitePool.ExecuteOutcome")]
public sealed record ExecuteOutcome([property: Id(0)] ExecuteResult? Result, [property: Id(1)] Exception? Error)
{
    /// <summary>The result; throws the write's own error when it failed.</summary>
    public ExecuteResult GetResult() =>
        Result ?? throw (Error ?? new InvalidOperationException("The outcome holds neither a result nor an error."));
}
