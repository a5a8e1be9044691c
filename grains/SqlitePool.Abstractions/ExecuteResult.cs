namespace SqlitePool;

/// <summary>What a write did: rows changed, the last inserted rowid, for statements that return rows
/// (<c>RETURNING</c>, <c>PRAGMA</c>) those rows, and the database's transaction id after it.</summary>
/// <param name="Changes">Rows the statement changed.</param>
/// <param name="LastInsertRowId">The rowid of the connection's last insert.</param>
/// <param name="Rows">The rows a statement that returns rows returned.</param>
/// <param name="TransactionId">On the writer, the id of the database's last committed transaction once the statement
/// ended: for a write that committed, its own commit's (one id for the writes of one commit group, and for a batch);
/// for one inside an open transaction, the commit before it. Ids go up by one at each commit and never repeat; 0 where
/// the statement ran on a reader.</param>
[GenerateSerializer, Immutable, Alias("SqlitePool.ExecuteResult")]
public sealed record ExecuteResult(
    [property: Id(0)] long Changes,
    [property: Id(1)] long LastInsertRowId,
    [property: Id(2)] QueryResult? Rows = null,
    [property: Id(3)] long TransactionId = 0);
