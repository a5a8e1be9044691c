namespace SqlitePool;

/// <summary>SQL text with its parameters, as sent to a database.</summary>
/// <remarks>
/// Positional values bind <c>?</c>, <c>?NNN</c> and, by position, named parameters without a named value.
/// Named values bind <c>$name</c>, <c>:name</c> and <c>@name</c>; give the name without its prefix.
/// Values are converted to SQLite storage classes by <see cref="SqlValues.ToStorage(object?)"/>.
/// A statement is immutable once sent: it is passed by reference between grains on one silo.
/// </remarks>
[GenerateSerializer, Immutable, Alias("SqlitePool.Statement")]
public sealed record Statement
{
    /// <summary>Creates a statement with positional parameters.</summary>
    public Statement(string sql, params object?[] parameters)
    {
        ArgumentNullException.ThrowIfNull(sql);
        Sql = sql;
        Parameters = parameters is { Length: > 0 } ? Array.ConvertAll(parameters, SqlValues.ToStorage) : [];
    }

    /// <summary>Creates a statement with named parameters (names without <c>$</c>, <c>:</c> or <c>@</c>).</summary>
    public Statement(string sql, IEnumerable<KeyValuePair<string, object?>> namedParameters)
        : this(sql)
    {
        ArgumentNullException.ThrowIfNull(namedParameters);
        var named = new Dictionary<string, object?>(StringComparer.Ordinal);
        foreach (var (name, value) in namedParameters)
        {
            named[TrimPrefix(name)] = SqlValues.ToStorage(value);
        }

        NamedParameters = named;
    }

    /// <summary>The SQL text; several statements separated by <c>;</c> are allowed where the call says so.</summary>
    [Id(0)] public string Sql { get; init; }

    /// <summary>Positional values, already in SQLite storage classes.</summary>
    [Id(1)] public object?[] Parameters { get; init; }

    /// <summary>Named values keyed by name without prefix, or null.</summary>
    [Id(2)] public Dictionary<string, object?>? NamedParameters { get; init; }

    /// <summary>Converts SQL text without parameters.</summary>
    public static implicit operator Statement(string sql) => new(sql);

    /// <inheritdoc />
    public override string ToString() => Sql;

    internal static string TrimPrefix(string name) =>
        name.Length > 0 && name[0] is '$' or ':' or '@' ? name[1..] : name;
}
