using System.Text;
using SQLitePCL;

namespace SqlitePool.Engine;

/// <summary>Leading-keyword checks that <c>sqlite3_stmt_readonly</c> cannot make.</summary>
internal static class SqlKeywords
{
    private static readonly string[] TransactionControl = ["BEGIN", "COMMIT", "END", "ROLLBACK", "SAVEPOINT", "RELEASE"];

    // These cannot run inside a transaction (VACUUM, DETACH), or leave what only DETACH undoes (ATTACH).
    private static readonly string[] OutsideTransactions = ["ATTACH", "DETACH", "VACUUM"];

    // sqlite3_stmt_readonly counts these as read-only, but on a read path they would end or extend the
    // snapshot the pool manages, or attach files.
    private static readonly string[] RefusedOnReadPath = [.. TransactionControl, "ATTACH", "DETACH"];

    // These cannot share a transaction with other callers' writes: they control transactions, must run
    // outside one, or change the connection for everyone.
    private static readonly string[] NotGroupable = [.. RefusedOnReadPath, "VACUUM", "PRAGMA"];

    // Leading keywords of writes that can join a commit group (the text is still checked per statement).
    private static readonly string[] GroupableLeading = ["INSERT", "UPDATE", "DELETE", "REPLACE", "WITH", "CREATE", "DROP", "ALTER", "SELECT", "VALUES"];

    /// <summary>What the pool needs to know about a prepared statement; computed once per prepare.</summary>
    public static StatementTraits TraitsOf(sqlite3_stmt stmt)
    {
        var text = raw.sqlite3_sql(stmt).utf8_to_string() ?? "";
        var keyword = SqlText.LeadingKeyword(text);
        return new StatementTraits(
            ReadOnly: raw.sqlite3_stmt_readonly(stmt) != 0 || ReadsJournalMode(keyword, text),
            RefusedOnReadPath: Array.IndexOf(RefusedOnReadPath, keyword) >= 0,
            Groupable: Array.IndexOf(NotGroupable, keyword) < 0,
            ControlsTransaction: Array.IndexOf(TransactionControl, keyword) >= 0,
            RunsOutsideTransactions: Array.IndexOf(OutsideTransactions, keyword) >= 0);
    }

    // SQLite counts every journal_mode pragma as a write (its opcode may change the mode); reading it only reads.
    private static bool ReadsJournalMode(string keyword, string text) => keyword == "PRAGMA" && SqlText.QueriedPragma(text) == "journal_mode";

    // Queries that read and nothing else may run on the writer (a borrowed writer has no query_only to stop a
    // read-only statement that writes, as PRAGMA optimize does).
    private static readonly string[] BorrowsWriter = ["SELECT", "WITH", "VALUES"];

    /// <summary>True when the read <paramref name="sql"/> may run on a free writer.</summary>
    public static bool MayBorrowWriter(string sql) => Array.IndexOf(BorrowsWriter, SqlText.LeadingKeyword(sql)) >= 0;

    /// <summary>True when text starting with <paramref name="sql"/> may join a commit group.</summary>
    public static bool MayGroup(string sql) => Array.IndexOf(GroupableLeading, SqlText.LeadingKeyword(sql)) >= 0;

    /// <summary>True when the UTF-8 text (the tail after a statement) holds only whitespace, comments and the empty
    /// statements of lone semicolons: nothing SQLite would run.</summary>
    public static bool IsBlank(ReadOnlySpan<byte> utf8) => utf8.IsEmpty || SqlText.IsBlank(Encoding.UTF8.GetString(utf8).Replace(';', ' '));
}

/// <summary>A prepared statement's kind: read-only, refused on read paths, free to share a transaction, controls
/// transactions, runs only outside one.</summary>
internal readonly record struct StatementTraits(bool ReadOnly, bool RefusedOnReadPath, bool Groupable, bool ControlsTransaction, bool RunsOutsideTransactions);
