using SQLitePCL;

namespace SqlitePool.Engine;

/// <summary>
/// Prepared statements of one connection, by SQL text, kept between calls (reset and unbound after each
/// use, so none holds a snapshot). Belongs to the connection's worker thread; only single-statement texts
/// are kept. SQLite re-prepares a cached statement by itself when the schema changes.
/// </summary>
internal sealed class StatementCache : IDisposable
{
    public const int Capacity = 128;

    [ThreadStatic]
    private static StatementCache? _current;

    private readonly Dictionary<string, CachedStatement> _statements = new(StringComparer.Ordinal);
    private readonly Queue<string> _age = new();

    /// <summary>The cache of the connection whose worker is the current thread, or null on other threads.</summary>
    public static StatementCache? Current
    {
        get => _current;
        set => _current = value;
    }

    public int Count => _statements.Count;

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
    }
}

/// <summary>A prepared statement kept by <see cref="StatementCache"/>.</summary>
internal sealed record CachedStatement(sqlite3_stmt Stmt, StatementTraits Traits);
