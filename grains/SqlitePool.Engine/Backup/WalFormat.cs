using System.Buffers.Binary;

namespace SqlitePool.Engine.Backup;

/// <summary>
/// The layout of SQLite's write-ahead log (sqlite.org/fileformat2.html, "The WAL File Format"): a 32-byte header, then
/// frames of a 24-byte header and one page image. A frame is valid when its salts equal the header's and its checksum
/// continues the one before it; a transaction is committed once its last frame, which carries the database's size in
/// pages, is valid. SQLite starts the log over by writing a header with new salts, so frames of an earlier generation
/// left beyond the new ones never validate.
/// </summary>
internal static class WalFormat
{
    public const int HeaderSize = 32;
    public const int FrameHeaderSize = 24;

    private const uint MagicLittleEndian = 0x377f0682;
    private const uint MagicBigEndian = 0x377f0683;

    /// <summary>Reads the log's header; null when it is missing, torn or not a WAL header.</summary>
    public static WalHeader? ReadHeader(ReadOnlySpan<byte> header)
    {
        if (header.Length < HeaderSize)
        {
            return null;
        }

        var magic = BinaryPrimitives.ReadUInt32BigEndian(header);
        if (magic is not (MagicLittleEndian or MagicBigEndian))
        {
            return null;
        }

        var bigEndian = magic == MagicBigEndian;
        var (s0, s1) = Checksum(header[..24], bigEndian, 0, 0);
        if (s0 != BinaryPrimitives.ReadUInt32BigEndian(header[24..]) || s1 != BinaryPrimitives.ReadUInt32BigEndian(header[28..]))
        {
            return null;
        }

        var pageSize = (int)BinaryPrimitives.ReadUInt32BigEndian(header[8..]);
        if (pageSize == 1)
        {
            pageSize = 65536; // the format's spelling of the largest page size
        }

        return pageSize is < 512 or > 65536 || (pageSize & (pageSize - 1)) != 0
            ? null
            : new WalHeader(bigEndian, pageSize, BinaryPrimitives.ReadUInt32BigEndian(header[16..]), BinaryPrimitives.ReadUInt32BigEndian(header[20..]), s0, s1);
    }

    /// <summary>SQLite's WAL checksum of <paramref name="data"/> (a multiple of 8 bytes), continuing from
    /// (<paramref name="s0"/>, <paramref name="s1"/>): over pairs of 32-bit words in the byte order the magic names.</summary>
    public static (uint S0, uint S1) Checksum(ReadOnlySpan<byte> data, bool bigEndian, uint s0, uint s1)
    {
        for (var i = 0; i + 8 <= data.Length; i += 8)
        {
            var (x0, x1) = bigEndian
                ? (BinaryPrimitives.ReadUInt32BigEndian(data[i..]), BinaryPrimitives.ReadUInt32BigEndian(data[(i + 4)..]))
                : (BinaryPrimitives.ReadUInt32LittleEndian(data[i..]), BinaryPrimitives.ReadUInt32LittleEndian(data[(i + 4)..]));
            unchecked
            {
                s0 += x0 + s1;
                s1 += x1 + s0;
            }
        }

        return (s0, s1);
    }
}

/// <summary>A log header: the byte order of its checksums, the page size, and the salts and checksum that start its
/// generation of frames.</summary>
internal readonly record struct WalHeader(bool BigEndian, int PageSize, uint Salt1, uint Salt2, uint Checksum1, uint Checksum2)
{
    /// <summary>Bytes one frame takes in the log.</summary>
    public int FrameSize => WalFormat.FrameHeaderSize + PageSize;

    /// <summary>The position before this generation's first frame.</summary>
    public WalPosition Start => new(Salt1, Salt2, 0, Checksum1, Checksum2);
}

/// <summary>
/// A commit boundary in the log: the generation (its salts), the frames of it read so far, and the running checksum
/// after them, which the next frame must continue.
/// </summary>
internal readonly record struct WalPosition(uint Salt1, uint Salt2, long Frames, uint Checksum1, uint Checksum2)
{
    /// <summary>True when <paramref name="header"/> starts the generation this position is in.</summary>
    public bool IsIn(WalHeader header) => header.Salt1 == Salt1 && header.Salt2 == Salt2;
}
