namespace SqlitePool;

/// <summary>What became of one read of <see cref="IDatabaseGrain.QueryEachAsync"/>: its rows, or the error it
/// alone failed with.</summary>
[GenerateSerializer, Immutable, Alias("SqlitePool.QueryOutcome")]
public sealed record QueryOutcome([property: Id(0)] QueryResult? Result, [property: Id(1)] Exception? Error)
{
    /// <summary>The rows; throws the read's own error when it failed.</summary>
    public QueryResult GetResult() =>
        Result ?? throw (Error ?? new InvalidOperationException("The outcome holds neither rows nor an error."));
}
