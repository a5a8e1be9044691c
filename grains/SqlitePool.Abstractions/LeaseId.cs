namespace SqlitePool;

/// <summary>Identifies a lease handed out by a database grain.</summary>
[GenerateSerializer, Immutable, Alias("SqlitePool.LeaseId")]
public readonly record struct LeaseId([property: Id(0)] Guid Value)
{
    /// <summary>A new random id.</summary>
    public static LeaseId New() => new(Guid.NewGuid());

    /// <inheritdoc />
    public override string ToString() => Value.ToString("N");
}
