using System.Text;
using SQLitePCL;

namespace SqlitePool.Engine;

/// <summary>Leading-keyword checks that <c>sqlite3_stmt_readonly</c> cannot make.</summary>
internal static class SqlKeywords
{
    // sqlite3_stmt_readonly counts these as read-only, but on a read path they would end or extend the
    // snapshot the pool manages, or attach files.
    private static readonly string[] RefusedOnReadPath = ["BEGIN", "COMMIT", "END", "ROLLBACK", "SAVEPOINT", "RELEASE", "ATTACH", "DETACH"];

    public static bool IsRefusedOnReadPath(sqlite3_stmt stmt)
    {
        var keyword = LeadingKeyword(raw.sqlite3_sql(stmt).utf8_to_string() ?? "");
        return Array.IndexOf(RefusedOnReadPath, keyword) >= 0;
    }

    /// <summary>The first keyword of the SQL text in upper case, after whitespace and comments.</summary>
    public static string LeadingKeyword(string sql)
    {
        var i = SkipBlank(sql, 0);
        var start = i;
        while (i < sql.Length && char.IsAsciiLetter(sql[i]))
        {
            i++;
        }

        return sql[start..i].ToUpperInvariant();
    }

    /// <summary>True when the UTF-8 text holds only whitespace and comments.</summary>
    public static bool IsBlank(ReadOnlySpan<byte> utf8) => utf8.IsEmpty || SkipBlank(Encoding.UTF8.GetString(utf8), 0) == Encoding.UTF8.GetString(utf8).Length;

    private static int SkipBlank(string sql, int i)
    {
        while (i < sql.Length)
        {
            if (char.IsWhiteSpace(sql[i]))
            {
                i++;
            }
            else if (sql.AsSpan(i).StartsWith("--"))
            {
                var end = sql.IndexOf('\n', i);
                i = end < 0 ? sql.Length : end + 1;
            }
            else if (sql.AsSpan(i).StartsWith("/*"))
            {
                var end = sql.IndexOf("*/", i + 2, StringComparison.Ordinal);
                i = end < 0 ? sql.Length : end + 2;
            }
            else
            {
                break;
            }
        }

        return i;
    }
}
