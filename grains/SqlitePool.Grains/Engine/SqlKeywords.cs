using System.Text;
using SQLitePCL;

namespace SqlitePool.Engine;

/// <summary>Leading-keyword checks that <c>sqlite3_stmt_readonly</c> cannot make.</summary>
internal static class SqlKeywords
{
    // sqlite3_stmt_readonly counts these as read-only, but on a read path they would end or extend the
    // snapshot the pool manages, or attach files.
    private static readonly string[] RefusedOnReadPath = ["BEGIN", "COMMIT", "END", "ROLLBACK", "SAVEPOINT", "RELEASE", "ATTACH", "DETACH"];

    public static bool IsRefusedOnReadPath(sqlite3_stmt stmt) =>
        Array.IndexOf(RefusedOnReadPath, SqlText.LeadingKeyword(raw.sqlite3_sql(stmt).utf8_to_string() ?? "")) >= 0;

    /// <summary>True when the UTF-8 text holds only whitespace and comments.</summary>
    public static bool IsBlank(ReadOnlySpan<byte> utf8) => utf8.IsEmpty || SqlText.IsBlank(Encoding.UTF8.GetString(utf8));
}
