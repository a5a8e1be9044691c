using SQLitePCL;

namespace SqlitePool.Engine;

/// <summary>
/// Prepared statements of one connection, by SQL text, kept between calls (reset and unbound after each
/// use, so none holds a snapshot). Belongs to the connection (<see cref="ConnectionWorker.Statements"/>); only single-statement texts
/// are kept. SQLite re-prepares a cached statement by itself when the schema changes.
/// </summary>
internal sealed class StatementCache : IDisposable
{
    public const int Capacity = 128;

    private readonly Dictionary<string, CachedStatement> _statements = new(StringComparer.Ordinal);
    private readonly Queue<string> _age = new();

    /// <summary>The cache of the connection whose work the current thread runs, or null on other threads.</summary>
    public static StatementCache? Current => ConnectionWorker.Current?.Statements;

    public int Count => _statements.Count;

    /// <summary>The connection's own BEGIN and COMMIT for reads that share a snapshot, once prepared.</summary>
    public SharedSnapshot? Snapshot { get; set; }

    public bool TryGet(string sql, out CachedStatement statement) => _statements.TryGetValue(sql, out statement!);

    /// <summary>Takes ownership of <paramref name="stmt"/>; the oldest entry goes when the cache is full.</summary>
    public CachedStatement Add(string sql, sqlite3_stmt stmt, StatementTraits traits)
    {
        if (_statements.Count >= Capacity && _age.TryDequeue(out var oldest) && _statements.Remove(oldest, out var evicted))
        {
            evicted.Stmt.Dispose();
        }

        var entry = new CachedStatement(stmt, traits);
        _statements[sql] = entry;
        _age.Enqueue(sql);
        return entry;
    }

    /// <summary>Makes a used statement ready for the next call: ends its read and drops its bindings.</summary>
    public static void Return(CachedStatement statement)
    {
        raw.sqlite3_reset(statement.Stmt);
        raw.sqlite3_clear_bindings(statement.Stmt);
    }

    /// <summary>Finalizes every statement; run before the connection closes.</summary>
    public void Dispose()
    {
        foreach (var statement in _statements.Values)
        {
            statement.Stmt.Dispose();
        }

        _statements.Clear();
        _age.Clear();
        Snapshot?.Dispose();
        Snapshot = null;
    }
}

/// <summary>A prepared statement kept by <see cref="StatementCache"/>, with its column and parameter names
/// decoded once (again after SQLite re-prepares it for a schema change).</summary>
internal sealed record CachedStatement(sqlite3_stmt Stmt, StatementTraits Traits)
{
    private const int Reprepares = 5; // SQLITE_STMTSTATUS_REPREPARE
    private string[]? _columns;
    private string?[]? _parameters;
    private int _shapeVersion = -1;

    /// <summary>The result's column names.</summary>
    public string[] Columns
    {
        get
        {
            Refresh();
            return _columns ??= StatementShape.ColumnNames(Stmt);
        }
    }

    /// <summary>The parameters' names without their prefix (<c>$id</c> → <c>id</c>), null for <c>?</c> and <c>?NNN</c>.</summary>
    public string?[] Parameters
    {
        get
        {
            Refresh();
            return _parameters ??= StatementShape.ParameterNames(Stmt);
        }
    }

    private void Refresh()
    {
        var version = raw.sqlite3_stmt_status(Stmt, Reprepares, 0);
        if (version != _shapeVersion)
        {
            (_columns, _parameters, _shapeVersion) = (null, null, version);
        }
    }
}

/// <summary>Names read from a prepared statement.</summary>
internal static class StatementShape
{
    public static string[] ColumnNames(sqlite3_stmt stmt)
    {
        var names = new string[raw.sqlite3_column_count(stmt)];
        for (var i = 0; i < names.Length; i++)
        {
            names[i] = raw.sqlite3_column_name(stmt, i).utf8_to_string() ?? "";
        }

        return names;
    }

    public static string?[] ParameterNames(sqlite3_stmt stmt)
    {
        var names = new string?[raw.sqlite3_bind_parameter_count(stmt)];
        for (var i = 0; i < names.Length; i++)
        {
            var name = raw.sqlite3_bind_parameter_name(stmt, i + 1).utf8_to_string();
            names[i] = name is null || name[0] == '?' ? null : name[1..];
        }

        return names;
    }
}
