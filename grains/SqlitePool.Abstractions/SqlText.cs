namespace SqlitePool;

/// <summary>Small lexical helpers over SQL text (whitespace and comments, leading keyword).</summary>
public static class SqlText
{
    /// <summary>The first keyword of the SQL text in upper case, after whitespace and comments; empty if none.</summary>
    public static string LeadingKeyword(string sql)
    {
        ArgumentNullException.ThrowIfNull(sql);
        var i = SkipBlank(sql, 0);
        var start = i;
        while (i < sql.Length && char.IsAsciiLetter(sql[i]))
        {
            i++;
        }

        return sql[start..i].ToUpperInvariant();
    }

    /// <summary>True when the text holds only whitespace and comments.</summary>
    public static bool IsBlank(string sql)
    {
        ArgumentNullException.ThrowIfNull(sql);
        return SkipBlank(sql, 0) == sql.Length;
    }

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
