namespace SqlitePool;

/// <summary>The rows of a query: column names and values in SQLite storage classes, row after row.</summary>
/// <remarks>Immutable: it crosses the grain boundary by reference on one silo, without a copy; between
/// processes it travels packed (<see cref="QueryResultConverter"/>).</remarks>
[Immutable]
public sealed class QueryResult
{
    /// <summary>Creates a result from column names and row-major values.</summary>
    /// <exception cref="ArgumentException">The value count is not a multiple of the column count.</exception>
    public QueryResult(string[] columns, object?[] values)
    {
        ArgumentNullException.ThrowIfNull(columns);
        ArgumentNullException.ThrowIfNull(values);
        if (columns.Length == 0 ? values.Length != 0 : values.Length % columns.Length != 0)
        {
            throw new ArgumentException("The values do not fill whole rows.", nameof(values));
        }

        Columns = columns;
        Values = values;
    }

    /// <summary>An empty result without columns.</summary>
    public static QueryResult Empty { get; } = new([], []);

    /// <summary>The column names, in order.</summary>
    public string[] Columns { get; }

    /// <summary>All values, row-major: value (r, c) is at <c>r * Columns.Length + c</c>.</summary>
    public object?[] Values { get; }

    /// <summary>The number of rows.</summary>
    public int RowCount => Columns.Length == 0 ? 0 : Values.Length / Columns.Length;

    /// <summary>The value at a row and column.</summary>
    public object? this[int row, int column] => Values[(row * Columns.Length) + column];

    /// <summary>The value at a row and named column.</summary>
    public object? this[int row, string column] => this[row, GetOrdinal(column)];

    /// <summary>The index of a column by name (ordinal first, then ignoring case).</summary>
    /// <exception cref="IndexOutOfRangeException">No such column.</exception>
    public int GetOrdinal(string column)
    {
        var index = Array.IndexOf(Columns, column);
        if (index < 0)
        {
            index = Array.FindIndex(Columns, c => string.Equals(c, column, StringComparison.OrdinalIgnoreCase));
        }

        return index >= 0 ? index : throw new IndexOutOfRangeException($"The result has no column '{column}'.");
    }

    /// <summary>One row's values (a copy).</summary>
    public object?[] GetRow(int row) => Values.AsSpan(row * Columns.Length, Columns.Length).ToArray();
}
