using System.Buffers;
using System.Buffers.Binary;
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
        var buffer = new ArrayBufferWriter<byte>(16 + (value.Values.Length * 9));
        WriteVarint(buffer, (ulong)value.Values.Length);
        foreach (var item in value.Values)
        {
            switch (item)
            {
                case null:
                    WriteByte(buffer, Null);
                    break;
                case long l:
                    WriteByte(buffer, Integer);
                    WriteVarint(buffer, (ulong)((l << 1) ^ (l >> 63)));
                    break;
                case double d:
                    WriteByte(buffer, Real);
                    BinaryPrimitives.WriteDoubleLittleEndian(buffer.GetSpan(8), d);
                    buffer.Advance(8);
                    break;
                case string s:
                    WriteByte(buffer, Text);
                    WriteVarint(buffer, (ulong)Encoding.UTF8.GetByteCount(s));
                    buffer.Advance(Encoding.UTF8.GetBytes(s, buffer.GetSpan(Encoding.UTF8.GetMaxByteCount(s.Length))));
                    break;
                case byte[] b:
                    WriteByte(buffer, Blob);
                    WriteVarint(buffer, (ulong)b.Length);
                    buffer.Write(b);
                    break;
                default:
                    throw new InvalidOperationException($"A query result holds a {item.GetType().Name}; only SQLite storage classes travel.");
            }
        }

        return new QueryResultSurrogate { Columns = value.Columns, Values = buffer.WrittenSpan.ToArray() };
    }

    private static void WriteByte(ArrayBufferWriter<byte> buffer, byte value)
    {
        buffer.GetSpan(1)[0] = value;
        buffer.Advance(1);
    }

    private static void WriteVarint(ArrayBufferWriter<byte> buffer, ulong value)
    {
        var span = buffer.GetSpan(10);
        var i = 0;
        while (value >= 0x80)
        {
            span[i++] = (byte)(value | 0x80);
            value >>= 7;
        }

        span[i++] = (byte)value;
        buffer.Advance(i);
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
