namespace SqlitePool;

/// <summary>A statement that writes (or controls transactions or attachments) was sent to a read path.</summary>
/// <remarks>Carries SQLITE_READONLY (8) as its code. Send writes with <c>ExecuteAsync</c> or on a writer lease.</remarks>
[GenerateSerializer, Alias("SqlitePool.WriteOnReadPathException")]
public sealed class WriteOnReadPathException : SqlStatementException
{
    /// <summary>SQLITE_READONLY.</summary>
    public const int ReadOnlyCode = 8;

    /// <summary>Creates the exception for the given SQL.</summary>
    public WriteOnReadPathException(string sql)
        : base($"The statement writes to the database or controls transactions, but was sent to a read path (query or reader lease); use ExecuteAsync or a writer lease instead. SQL: {Truncate(sql)}",
            ReadOnlyCode, ReadOnlyCode, sql)
    {
    }

    private static string Truncate(string sql) => sql.Length <= 200 ? sql : sql[..200] + "...";
}
