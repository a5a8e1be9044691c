using System.Buffers.Binary;

namespace SqlitePool.Engine.Backup;

/// <summary>One committed transaction read from the log: its frames as SQLite wrote them, in order.</summary>
/// <param name="Frames">The frames, each a 24-byte header and a page image (<see cref="WalHeader.FrameSize"/> bytes).</param>
/// <param name="PageSize">The page size of the log they came from.</param>
/// <param name="DatabasePages">The database's size in pages once the transaction is applied.</param>
/// <param name="End">The position after its commit frame.</param>
internal sealed record WalTransaction(byte[] Frames, int PageSize, uint DatabasePages, WalPosition End)
{
    public int FrameCount => Frames.Length / (WalFormat.FrameHeaderSize + PageSize);

    /// <summary>The page number of frame <paramref name="index"/> and its image.</summary>
    public (uint Page, ReadOnlyMemory<byte> Image) Frame(int index)
    {
        var offset = index * (WalFormat.FrameHeaderSize + PageSize);
        return (BinaryPrimitives.ReadUInt32BigEndian(Frames.AsSpan(offset)), Frames.AsMemory(offset + WalFormat.FrameHeaderSize, PageSize));
    }
}

/// <summary>What a read of the log found after a position.</summary>
/// <param name="Header">The log's header, or null when there is no log (missing, empty or torn header).</param>
/// <param name="GenerationChanged">The log started over since the position: the frames read are the new generation's,
/// from its start, and whatever of the old one was not read before is gone.</param>
/// <param name="Transactions">The committed transactions after the position, in commit order (without their frames
/// when only counted).</param>
/// <param name="PositionFound">In the position's generation, whether the log holds the commit frame the position ends
/// at, with the same checksum (true for a position at the generation's start, or none).</param>
internal sealed record WalRead(WalHeader? Header, bool GenerationChanged, IReadOnlyList<WalTransaction> Transactions, bool PositionFound = true);

/// <summary>
/// Reads committed transactions from a live log. Only SQLite writes it (appending, or starting over with a new header);
/// a read sees a prefix of what is committed: it stops at the first frame that does not validate (one still being
/// written, or one left from an earlier generation) and returns only transactions whose commit frame it validated.
/// </summary>
/// <remarks>While the database is open, the log is read only through SQLite's own handle (DESIGN invariant 9); a path is
/// read only when no connection has the database open.</remarks>
internal static class WalReader
{
    /// <summary>Fills a buffer from the log at an offset; false when the log ends before it is full.</summary>
    public delegate bool ReadAt(Span<byte> buffer, long offset);

    /// <summary>Reads the transactions committed in the log at <paramref name="path"/> after <paramref name="after"/>
    /// (null: from the start of the log's generation), stopping at the first commit past <paramref name="maxBytes"/>
    /// of frames (a single larger transaction is read whole). For a log no connection has open: a database being opened
    /// or restored.</summary>
    /// <exception cref="IOException">The log could not be read.</exception>
    public static WalRead Read(string path, WalPosition? after, long maxBytes = long.MaxValue) => Read(path, after, maxBytes, keepFrames: true);

    /// <summary>As <see cref="Read(string, WalPosition?, long)"/>, keeping no frames: counts the commits after the
    /// position (an open counts its transaction ids so) in constant memory, whatever the log's size.</summary>
    public static WalRead Count(string path, WalPosition? after) => Read(path, after, long.MaxValue, keepFrames: false);

    private static WalRead Read(string path, WalPosition? after, long maxBytes, bool keepFrames)
    {
        FileStream log;
        try
        {
            log = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, bufferSize: 0);
        }
        catch (FileNotFoundException)
        {
            return new WalRead(null, after is not null, []);
        }

        using (log)
        {
            return Read((buffer, offset) => RandomAccess.Read(log.SafeFileHandle, buffer, offset) == buffer.Length, after, maxBytes, keepFrames);
        }
    }

    /// <summary>As <see cref="Read(string, WalPosition?, long)"/>, for the log of <paramref name="db"/>, read through
    /// SQLite's own handle of it (<see cref="SqliteLogFile"/>), on the connection's thread.</summary>
    public static WalRead Read(SQLitePCL.sqlite3 db, WalPosition? after, long maxBytes = long.MaxValue) =>
        Read((buffer, offset) => SqliteLogFile.TryRead(db, buffer, offset), after, maxBytes);

    /// <summary>As <see cref="Read(string, WalPosition?, long)"/>, reading the log with <paramref name="read"/>.</summary>
    public static WalRead Read(ReadAt read, WalPosition? after, long maxBytes = long.MaxValue, bool keepFrames = true)
    {
        Span<byte> headerBytes = stackalloc byte[WalFormat.HeaderSize];
        if (!read(headerBytes, 0) || WalFormat.ReadHeader(headerBytes) is not { } header)
        {
            return new WalRead(null, after is not null, []);
        }

        var changed = after is { } position && !position.IsIn(header);
        var start = after is { } same && !changed ? same : header.Start;
        return new WalRead(header, changed, ReadFrames(read, header, start, maxBytes, keepFrames), changed || EndsAt(read, header, start));
    }

    // True when the frame a position ends at is in the log: a commit frame of the header's generation whose checksum is
    // the position's.
    private static bool EndsAt(ReadAt read, WalHeader header, WalPosition position)
    {
        if (position.Frames == 0)
        {
            return position.Checksum1 == header.Checksum1 && position.Checksum2 == header.Checksum2;
        }

        Span<byte> frame = stackalloc byte[WalFormat.FrameHeaderSize];
        return read(frame, WalFormat.HeaderSize + ((position.Frames - 1) * header.FrameSize))
            && BinaryPrimitives.ReadUInt32BigEndian(frame[4..]) != 0
            && BinaryPrimitives.ReadUInt32BigEndian(frame[8..]) == header.Salt1 && BinaryPrimitives.ReadUInt32BigEndian(frame[12..]) == header.Salt2
            && BinaryPrimitives.ReadUInt32BigEndian(frame[16..]) == position.Checksum1 && BinaryPrimitives.ReadUInt32BigEndian(frame[20..]) == position.Checksum2;
    }

    private static List<WalTransaction> ReadFrames(ReadAt read, WalHeader header, WalPosition start, long maxBytes, bool keepFrames)
    {
        var transactions = new List<WalTransaction>();
        var frameSize = header.FrameSize;
        var frame = new byte[frameSize];
        using var pending = new MemoryStream();
        var (s0, s1) = (start.Checksum1, start.Checksum2);
        var frames = start.Frames;
        long bytesRead = 0;
        while (bytesRead < maxBytes)
        {
            var offset = WalFormat.HeaderSize + (frames * frameSize);
            if (!read(frame, offset) || !Continues(frame, header, ref s0, ref s1))
            {
                break;
            }

            frames++;
            if (keepFrames)
            {
                pending.Write(frame);
            }

            var databasePages = BinaryPrimitives.ReadUInt32BigEndian(frame.AsSpan(4));
            if (databasePages != 0)
            {
                // A commit frame: the transaction is whole.
                var bytes = keepFrames ? pending.ToArray() : [];
                transactions.Add(new WalTransaction(bytes, header.PageSize, databasePages, new WalPosition(header.Salt1, header.Salt2, frames, s0, s1)));
                bytesRead += keepFrames ? bytes.Length : 0;
                pending.SetLength(0);
            }
        }

        return transactions;
    }

    // True when the frame belongs to the header's generation and its checksum continues (s0, s1), which it then advances.
    private static bool Continues(ReadOnlySpan<byte> frame, WalHeader header, ref uint s0, ref uint s1)
    {
        if (BinaryPrimitives.ReadUInt32BigEndian(frame[8..]) != header.Salt1 || BinaryPrimitives.ReadUInt32BigEndian(frame[12..]) != header.Salt2)
        {
            return false;
        }

        var (c0, c1) = WalFormat.Checksum(frame[..8], header.BigEndian, s0, s1);
        (c0, c1) = WalFormat.Checksum(frame[WalFormat.FrameHeaderSize..], header.BigEndian, c0, c1);
        if (c0 != BinaryPrimitives.ReadUInt32BigEndian(frame[16..]) || c1 != BinaryPrimitives.ReadUInt32BigEndian(frame[20..]))
        {
            return false;
        }

        (s0, s1) = (c0, c1);
        return true;
    }
}
