namespace SqlitePool;

/// <summary>The pool's statement policy refused a statement (ATTACH, <c>load_extension</c>, or a pragma that
/// would change the journal mode, locking, read-only state or file locations). Nothing ran.</summary>
/// <remarks>Carries SQLITE_AUTH (23) as its code.</remarks>
[GenerateSerializer, Alias("SqlitePool.StatementNotAllowedException")]
public sealed class StatementNotAllowedException : SqlStatementException
{
    /// <summary>SQLITE_AUTH.</summary>
    public const int AuthCode = 23;

    /// <summary>Creates the exception.</summary>
    public StatementNotAllowedException(string reason, string sql)
        : base($"The statement is not allowed: {reason}", AuthCode, AuthCode, sql)
    {
        Reason = reason;
    }

    /// <summary>Why it was refused, naming the option that allows it where one exists.</summary>
    [Id(0)] public string Reason { get; }
}
