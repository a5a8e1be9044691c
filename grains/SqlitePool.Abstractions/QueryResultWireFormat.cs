using System.Buffers.Binary;
using System.Diagnostics;
using System.Numerics;
using System.Text;

namespace SqlitePool;

/// <summary>
/// How a <see cref="QueryResult"/> crosses the wire between processes: the column names and one packed byte
/// array of the values (a tag byte per value, then a zigzag varint, 8 bytes of a double, or a length-prefixed
/// UTF-8 text or blob). Orleans then copies one array instead of describing every boxed value. Within one
/// silo the result is passed by reference and never packed.
/// </summary>
[GenerateSerializer, Alias("SqlitePool.QueryResultWire")]
public struct QueryResultSurrogate
{
    [Id(0)] public string[] Columns;
    [Id(1)] public byte[] Values;
}

/// <summary>Converts <see cref="QueryResult"/> to and from its wire form.</summary>
[RegisterConverter]
public sealed class QueryResultConverter : IConverter<QueryResult, QueryResultSurrogate>
{
    private const byte Null = 0, Integer = 1, Real = 2, Text = 3, Blob = 4;

    /// <inheritdoc />
    public QueryResult ConvertFromSurrogate(in QueryResultSurrogate surrogate)
    {
        ReadOnlySpan<byte> reader = surrogate.Values;
        var count = checked((int)ReadVarint(ref reader));
        var values = new object?[count];
        for (var i = 0; i < count; i++)
        {
            var tag = reader[0];
            reader = reader[1..];
            switch (tag)
            {
                case Null:
                    break;
                case Integer:
                    var zigzag = ReadVarint(ref reader);
                    values[i] = (long)(zigzag >> 1) ^ -(long)(zigzag & 1);
                    break;
                case Real:
                    values[i] = BinaryPrimitives.ReadDoubleLittleEndian(reader);
                    reader = reader[8..];
                    break;
                case Text or Blob:
                    var length = checked((int)ReadVarint(ref reader));
                    values[i] = tag == Text ? Encoding.UTF8.GetString(reader[..length]) : reader[..length].ToArray();
                    reader = reader[length..];
                    break;
                default:
                    throw new InvalidDataException($"Unknown value tag {tag} in a packed query result.");
            }
        }

        return new QueryResult(surrogate.Columns, values);
    }

    /// <inheritdoc />
    public QueryResultSurrogate ConvertToSurrogate(in QueryResult value)
    {
        // Sized exactly first, so the values are written once into the array that travels.
        var values = value.Values;
        var packed = GC.AllocateUninitializedArray<byte>(PackedSize(values));
        var at = WriteVarint(packed, 0, (ulong)values.Length);
        foreach (var item in values)
        {
            switch (item)
            {
                case null:
                    packed[at++] = Null;
                    break;
                case long l:
                    packed[at++] = Integer;
                    at = WriteVarint(packed, at, ZigZag(l));
                    break;
                case double d:
                    packed[at++] = Real;
                    BinaryPrimitives.WriteDoubleLittleEndian(packed.AsSpan(at), d);
                    at += 8;
                    break;
                case string text:
                    packed[at++] = Text;
                    at = WriteVarint(packed, at, (ulong)Encoding.UTF8.GetByteCount(text));
                    at += Encoding.UTF8.GetBytes(text, packed.AsSpan(at));
                    break;
                case byte[] blob:
                    packed[at++] = Blob;
                    at = WriteVarint(packed, at, (ulong)blob.Length);
                    blob.CopyTo(packed.AsSpan(at));
                    at += blob.Length;
                    break;
            }
        }

        Debug.Assert(at == packed.Length, "The packed size was computed wrongly.");
        return new QueryResultSurrogate { Columns = value.Columns, Values = packed };
    }

    private static int PackedSize(object?[] values)
    {
        var size = VarintSize((ulong)values.Length);
        foreach (var item in values)
        {
            size += 1 + item switch
            {
                null => 0,
                long l => VarintSize(ZigZag(l)),
                double => 8,
                string text => VarintSize((ulong)Encoding.UTF8.GetByteCount(text)) + Encoding.UTF8.GetByteCount(text),
                byte[] blob => VarintSize((ulong)blob.Length) + blob.Length,
                _ => throw new InvalidOperationException($"A query result holds a {item.GetType().Name}; only SQLite storage classes travel."),
            };
        }

        return size;
    }

    private static ulong ZigZag(long value) => (ulong)((value << 1) ^ (value >> 63));

    private static int VarintSize(ulong value) => value < 0x80 ? 1 : (70 - BitOperations.LeadingZeroCount(value)) / 7;

    private static int WriteVarint(byte[] packed, int at, ulong value)
    {
        while (value >= 0x80)
        {
            packed[at++] = (byte)(value | 0x80);
            value >>= 7;
        }

        packed[at++] = (byte)value;
        return at;
    }

    private static ulong ReadVarint(ref ReadOnlySpan<byte> reader)
    {
        ulong value = 0;
        for (var shift = 0; ; shift += 7)
        {
            var b = reader[0];
            reader = reader[1..];
            value |= (ulong)(b & 0x7f) << shift;
            if (b < 0x80)
            {
                return value;
            }
        }
    }
}
