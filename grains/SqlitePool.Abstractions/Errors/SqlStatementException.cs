namespace SqlitePool;

/// <summary>SQLite refused or failed a statement.</summary>
/// <remarks><see cref="ErrorCode"/> is SQLite's primary result code (1 SQLITE_ERROR, 19 SQLITE_CONSTRAINT, ...);
/// <see cref="ExtendedErrorCode"/> the extended one (e.g. 2067 SQLITE_CONSTRAINT_UNIQUE).</remarks>
[GenerateSerializer, Alias("SqlitePool.SqlStatementException")]
public class SqlStatementException : SqlitePoolException
{
    /// <summary>Creates the exception.</summary>
    public SqlStatementException(string message, int errorCode, int extendedErrorCode, string? sql, int? statementIndex = null)
        : base(message)
    {
        ErrorCode = errorCode;
        ExtendedErrorCode = extendedErrorCode;
        Sql = sql;
        StatementIndex = statementIndex;
    }

    /// <summary>SQLite's primary result code.</summary>
    [Id(0)] public int ErrorCode { get; }

    /// <summary>SQLite's extended result code.</summary>
    [Id(1)] public int ExtendedErrorCode { get; }

    /// <summary>The SQL text that failed.</summary>
    [Id(2)] public string? Sql { get; }

    /// <summary>In a batch, the zero-based index of the statement that failed.</summary>
    [Id(3)] public int? StatementIndex { get; }
}
