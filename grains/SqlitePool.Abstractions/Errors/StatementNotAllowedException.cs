namespace SqlitePool;

/// <summary>The pool refused a statement: its statement policy (ATTACH, <c>load_extension</c>, a pragma that would
/// change the journal mode, locking, read-only state, file locations or a setting the pool owns), or transaction
/// control inside a batch or a write of several statements. Nothing of the call was written.</summary>
/// <remarks>Carries SQLITE_AUTH (23) as its code.</remarks>
[GenerateSerializer, Alias("SqlitePool.StatementNotAllowedException")]
public sealed class StatementNotAllowedException : SqlStatementException
{
    /// <summary>SQLITE_AUTH.</summary>
    public const int AuthCode = 23;

    /// <summary>Creates the exception.</summary>
    public StatementNotAllowedException(string reason, string sql, int? statementIndex = null)
        : base($"The statement is not allowed: {reason}", AuthCode, AuthCode, sql, statementIndex)
    {
        Reason = reason;
    }

    /// <summary>Why it was refused, naming the option that allows it where one exists.</summary>
    [Id(0)] public string Reason { get; }
}
