using System.Reflection;

namespace SqlitePool.Client;

/// <summary>
/// Maps query rows to <typeparamref name="T"/> by column name. Names match ignoring case and underscores
/// (<c>created_at</c> fills <c>CreatedAt</c>). Records and classes are built through the public constructor
/// whose parameters all match columns (the one with most parameters wins), then settable properties are
/// filled from the remaining columns. Scalar types (numbers, text, blobs, dates, <see cref="Guid"/>, enums)
/// take the first column. Values convert as <see cref="SqlValues.ConvertTo"/> documents.
/// </summary>
public static class RowMapper<T>
{
    private static readonly bool IsScalar = IsScalarType(Nullable.GetUnderlyingType(typeof(T)) ?? typeof(T));

    private static readonly ConstructorInfo[] Constructors =
        [.. typeof(T).GetConstructors().OrderByDescending(c => c.GetParameters().Length)];

    private static readonly PropertyInfo[] Properties =
        [.. typeof(T).GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(p => p.SetMethod is { IsPublic: true } && p.GetIndexParameters().Length == 0)];

    /// <summary>Maps every row.</summary>
    /// <exception cref="InvalidOperationException"><typeparamref name="T"/> cannot be built from the columns.</exception>
    public static IReadOnlyList<T> MapAll(QueryResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        var map = Plan(result.Columns);
        var rows = new T[result.RowCount];
        for (var r = 0; r < rows.Length; r++)
        {
            rows[r] = map(result, r);
        }

        return rows;
    }

    /// <summary>Maps the only row.</summary>
    /// <exception cref="InvalidOperationException">The result has no row or more than one.</exception>
    public static T MapSingle(QueryResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        return result.RowCount == 1
            ? Plan(result.Columns)(result, 0)
            : throw new InvalidOperationException($"Expected exactly one row, got {result.RowCount}.");
    }

    private static Func<QueryResult, int, T> Plan(string[] columns)
    {
        if (IsScalar)
        {
            return columns.Length == 0
                ? throw new InvalidOperationException("The result has no column to map.")
                : (result, row) => (T)SqlValues.ConvertTo(result[row, 0], typeof(T))!;
        }

        var ordinals = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = columns.Length - 1; i >= 0; i--)
        {
            ordinals[Normalize(columns[i])] = i;
        }

        foreach (var constructor in Constructors)
        {
            var parameters = constructor.GetParameters();
            var argumentOrdinals = new int[parameters.Length];
            var matches = true;
            for (var p = 0; p < parameters.Length && matches; p++)
            {
                matches = ordinals.TryGetValue(Normalize(parameters[p].Name!), out argumentOrdinals[p]);
            }

            if (!matches)
            {
                continue;
            }

            var used = new HashSet<int>(argumentOrdinals);
            var setters = Properties
                .Select(property => (property, found: ordinals.TryGetValue(Normalize(property.Name), out var ordinal), ordinal))
                .Where(x => x.found && !used.Contains(x.ordinal))
                .Select(x => (x.property, x.ordinal))
                .ToArray();
            return (result, row) => Build(constructor, parameters, argumentOrdinals, setters, result, row);
        }

        throw new InvalidOperationException(
            $"{typeof(T)} has no public constructor whose parameters all match the columns ({string.Join(", ", columns)}).");
    }

    private static T Build(ConstructorInfo constructor, ParameterInfo[] parameters, int[] argumentOrdinals, (PropertyInfo Property, int Ordinal)[] setters, QueryResult result, int row)
    {
        var arguments = new object?[parameters.Length];
        for (var p = 0; p < parameters.Length; p++)
        {
            arguments[p] = Convert(result[row, argumentOrdinals[p]], parameters[p].ParameterType, parameters[p].Name!);
        }

        var instance = constructor.Invoke(arguments);
        foreach (var (property, ordinal) in setters)
        {
            property.SetValue(instance, Convert(result[row, ordinal], property.PropertyType, property.Name));
        }

        return (T)instance;
    }

    private static object? Convert(object? value, Type type, string member)
    {
        try
        {
            return SqlValues.ConvertTo(value, type);
        }
        catch (Exception ex) when (ex is InvalidCastException or FormatException or OverflowException)
        {
            throw new InvalidCastException($"Column for {typeof(T).Name}.{member} holds {value ?? "NULL"}, which does not convert to {type}: {ex.Message}", ex);
        }
    }

    private static string Normalize(string name) => name.Replace("_", "", StringComparison.Ordinal).ToUpperInvariant();

    private static bool IsScalarType(Type type) =>
        type.IsPrimitive || type.IsEnum || type == typeof(string) || type == typeof(byte[]) || type == typeof(decimal)
        || type == typeof(DateTime) || type == typeof(DateTimeOffset) || type == typeof(DateOnly) || type == typeof(TimeOnly)
        || type == typeof(TimeSpan) || type == typeof(Guid) || type == typeof(object);
}
