using System.Globalization;

namespace SqlitePool;

/// <summary>
/// Conversions between .NET values and SQLite's storage classes: null, integer (<see cref="long"/>),
/// real (<see cref="double"/>), text (<see cref="string"/>) and blob (<see cref="byte"/>[]).
/// </summary>
/// <remarks>
/// The conversions follow Microsoft.Data.Sqlite so that data written through the grain and through a
/// silo-local connection agree: <see cref="bool"/> → 0/1; integral types and enums → integer;
/// <see cref="float"/> → real; <see cref="decimal"/> → text (invariant culture);
/// <see cref="DateTime"/> → text <c>yyyy-MM-dd HH:mm:ss.FFFFFFF</c>; <see cref="DateTimeOffset"/> → the same
/// with <c>zzz</c>; <see cref="DateOnly"/> → <c>yyyy-MM-dd</c>; <see cref="TimeOnly"/> and
/// <see cref="TimeSpan"/> → text; <see cref="Guid"/> → 16-byte blob; <see cref="char"/> → text.
/// </remarks>
public static class SqlValues
{
    private const string DateTimeFormat = "yyyy-MM-dd HH:mm:ss.FFFFFFF";
    private const string DateTimeOffsetFormat = "yyyy-MM-dd HH:mm:ss.FFFFFFFzzz";

    /// <summary>Converts a .NET value to the storage class SQLite keeps for it.</summary>
    /// <exception cref="ArgumentException">The type has no documented conversion.</exception>
    public static object? ToStorage(object? value) => value switch
    {
        null or DBNull => null,
        long or double or string or byte[] => value,
        int i => (long)i,
        bool b => b ? 1L : 0L,
        short s => (long)s,
        byte b => (long)b,
        sbyte b => (long)b,
        ushort s => (long)s,
        uint u => (long)u,
        ulong u when u <= long.MaxValue => (long)u,
        ulong => throw new ArgumentException("A ulong above long.MaxValue does not fit SQLite's 64-bit integer.", nameof(value)),
        float f => (double)f,
        decimal d => d.ToString(CultureInfo.InvariantCulture),
        char c => c.ToString(),
        Enum e => Convert.ToInt64(e, CultureInfo.InvariantCulture),
        DateTime d => d.ToString(DateTimeFormat, CultureInfo.InvariantCulture),
        DateTimeOffset d => d.ToString(DateTimeOffsetFormat, CultureInfo.InvariantCulture),
        DateOnly d => d.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture),
        TimeOnly t => t.ToString("HH:mm:ss.fffffff", CultureInfo.InvariantCulture),
        TimeSpan t => t.ToString("c", CultureInfo.InvariantCulture),
        Guid g => g.ToByteArray(),
        ReadOnlyMemory<byte> m => m.ToArray(),
        Memory<byte> m => m.ToArray(),
        _ => throw new ArgumentException(
            $"A parameter of type {value.GetType()} has no SQLite conversion; pass null, an integer, a real, text, a blob or a type listed in SqlValues.",
            nameof(value)),
    };

    /// <summary>Converts a stored value to <paramref name="target"/>.</summary>
    /// <exception cref="InvalidCastException">The value cannot represent the target type.</exception>
    public static object? ConvertTo(object? value, Type target)
    {
        ArgumentNullException.ThrowIfNull(target);
        var underlying = Nullable.GetUnderlyingType(target);
        if (value is null)
        {
            return !target.IsValueType || underlying is not null
                ? null
                : throw new InvalidCastException($"NULL cannot be converted to {target}; make it nullable.");
        }

        target = underlying ?? target;
        if (target.IsInstanceOfType(value))
        {
            return value;
        }

        var inv = CultureInfo.InvariantCulture;
        return target switch
        {
            _ when target == typeof(object) => value,
            _ when target.IsEnum => Enum.ToObject(target, value is string s ? Enum.Parse(target, s, ignoreCase: true) : Convert.ToInt64(value, inv)),
            _ when target == typeof(bool) => Convert.ToInt64(value, inv) != 0,
            _ when target == typeof(string) => value is byte[] b ? Convert.ToBase64String(b) : Convert.ToString(value, inv),
            _ when target == typeof(decimal) => value is string s ? decimal.Parse(s, NumberStyles.Float, inv) : Convert.ToDecimal(value, inv),
            _ when target == typeof(DateTime) => value is string s ? DateTime.Parse(s, inv, DateTimeStyles.RoundtripKind) : DateTime.FromOADate(Convert.ToDouble(value, inv) - 2415018.5),
            _ when target == typeof(DateTimeOffset) => DateTimeOffset.Parse((string)value, inv, DateTimeStyles.AssumeUniversal),
            _ when target == typeof(DateOnly) => DateOnly.Parse((string)value, inv),
            _ when target == typeof(TimeOnly) => TimeOnly.Parse((string)value, inv),
            _ when target == typeof(TimeSpan) => TimeSpan.Parse((string)value, inv),
            _ when target == typeof(Guid) => value is byte[] { Length: 16 } g ? new Guid(g) : Guid.Parse((string)value),
            _ when target == typeof(char) => ((string)value)[0],
            _ when target == typeof(byte[]) => value is string s ? System.Text.Encoding.UTF8.GetBytes(s) : throw new InvalidCastException($"{value.GetType()} cannot be converted to byte[]."),
            _ => Convert.ChangeType(value, target, inv),
        };
    }
}
