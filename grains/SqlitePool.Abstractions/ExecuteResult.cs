namespace SqlitePool;

/// <summary>What a write did: rows changed, the last inserted rowid and, for statements that return rows
/// (<c>RETURNING</c>, <c>PRAGMA</c>), those rows.</summary>
[GenerateSerializer, Immutable, Alias("SqlitePool.ExecuteResult")]
public sealed record ExecuteResult(
    [property: Id(0)] long Changes,
    [property: Id(1)] long LastInsertRowId,
    [property: Id(2)] QueryResult? Rows = null);
