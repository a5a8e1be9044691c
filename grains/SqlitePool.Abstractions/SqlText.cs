namespace SqlitePool;

/// <summary>Small lexical helpers over SQL text (whitespace and comments as SQLite reads them, leading keyword).</summary>
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

    /// <summary>The name, in lower case, of the pragma a <c>PRAGMA name</c> or <c>PRAGMA schema.name</c> statement
    /// reads without setting it; null for any other text.</summary>
    public static string? QueriedPragma(string sql)
    {
        ArgumentNullException.ThrowIfNull(sql);
        if (LeadingKeyword(sql) != "PRAGMA")
        {
            return null;
        }

        var i = SkipBlank(sql, SkipBlank(sql, 0) + "PRAGMA".Length);
        var name = Identifier(sql, ref i);
        i = SkipBlank(sql, i);
        if (name is not null && i < sql.Length && sql[i] == '.')
        {
            i = SkipBlank(sql, i + 1);
            name = Identifier(sql, ref i);
            i = SkipBlank(sql, i);
        }

        while (i < sql.Length && sql[i] == ';')
        {
            i = SkipBlank(sql, i + 1);
        }

        return name is not null && i == sql.Length ? name.ToLowerInvariant() : null;
    }

    /// <summary>A bare or quoted identifier at <paramref name="i"/>, or null.</summary>
    private static string? Identifier(string sql, ref int i)
    {
        if (i < sql.Length && sql[i] is '"' or '[' or '`')
        {
            var close = sql[i] == '[' ? ']' : sql[i];
            var end = sql.IndexOf(close, i + 1);
            if (end < 0)
            {
                return null;
            }

            var quoted = sql[(i + 1)..end];
            i = end + 1;
            return quoted;
        }

        var start = i;
        while (i < sql.Length && (char.IsAsciiLetterOrDigit(sql[i]) || sql[i] == '_'))
        {
            i++;
        }

        return i > start ? sql[start..i] : null;
    }

    private static int SkipBlank(string sql, int i)
    {
        while (i < sql.Length)
        {
            // SQLite's whitespace only: a vertical tab or a no-break space is a token to it, not a gap.
            if (sql[i] is ' ' or '\t' or '\n' or '\f' or '\r')
            {
                i++;
            }
            else if (sql.AsSpan(i).StartsWith("--"))
            {
                var end = sql.IndexOf('\n', i);
                i = end < 0 ? sql.Length : end + 1;
            }
            else if (sql.AsSpan(i).StartsWith("/*") && i + 2 < sql.Length)
            {
                // To SQLite a comment runs to its "*/" or to the end, but a "/*" that ends the text is a slash.
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
