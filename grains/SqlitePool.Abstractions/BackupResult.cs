namespace SqlitePool;

/// <summary>A finished backup or restore: what was copied where, and how large the copy is.</summary>
[GenerateSerializer, Immutable, Alias("SqlitePool.BackupResult")]
public sealed record BackupResult(
    [property: Id(0)] string Source,
    [property: Id(1)] string Destination,
    [property: Id(2)] long Bytes);
