using System.Buffers.Binary;
using System.Security.Cryptography;

namespace SqlitePool.Engine.Backup;

/// <summary>
/// Committed changes of one database, stored as one object: records in transaction order, each the pages a range of
/// transactions left (<see cref="BackupRecord"/>), and a SHA-256 of everything before it, checked on every read.
/// A record of one transaction restores to that transaction; a compacted record, the latest image of each page a
/// range changed, restores only to the range's end.
/// </summary>
/// <remarks>
/// Layout (integers big-endian): magic <c>SQPSEG01</c>, page size (u32), record count (u32); per record: first and last
/// transaction id (u64, u64), commit time of the last (UTC ticks of 100 ns, i64), database size in pages after it (u32), page count
/// (u32), then per page its number (u32) and image; last, the 32-byte SHA-256.
/// </remarks>
internal static class BackupSegment
{
    private const int RecordHeaderSize = 8 + 8 + 8 + 4 + 4;
    private static readonly byte[] Magic = "SQPSEG01"u8.ToArray();

    /// <summary>The stored form of <paramref name="records"/>, which share <paramref name="pageSize"/>.</summary>
    public static byte[] Encode(int pageSize, IReadOnlyList<BackupRecord> records)
    {
        var size = Magic.Length + 8 + records.Sum(r => RecordHeaderSize + (r.Pages.Count * (4L + pageSize))) + SHA256.HashSizeInBytes;
        var bytes = new byte[size];
        var span = bytes.AsSpan();
        Magic.CopyTo(span);
        var at = Magic.Length;
        BinaryPrimitives.WriteUInt32BigEndian(span[at..], (uint)pageSize);
        BinaryPrimitives.WriteUInt32BigEndian(span[(at + 4)..], (uint)records.Count);
        at += 8;
        foreach (var record in records)
        {
            BinaryPrimitives.WriteUInt64BigEndian(span[at..], (ulong)record.FirstTransaction);
            BinaryPrimitives.WriteUInt64BigEndian(span[(at + 8)..], (ulong)record.LastTransaction);
            BinaryPrimitives.WriteInt64BigEndian(span[(at + 16)..], record.CommittedAt.UtcTicks);
            BinaryPrimitives.WriteUInt32BigEndian(span[(at + 24)..], record.DatabasePages);
            BinaryPrimitives.WriteUInt32BigEndian(span[(at + 28)..], (uint)record.Pages.Count);
            at += RecordHeaderSize;
            foreach (var (page, image) in record.Pages)
            {
                if (image.Length != pageSize)
                {
                    throw new ArgumentException($"Page {page} has {image.Length} bytes; the segment's pages have {pageSize}.", nameof(records));
                }

                BinaryPrimitives.WriteUInt32BigEndian(span[at..], page);
                image.Span.CopyTo(span[(at + 4)..]);
                at += 4 + pageSize;
            }
        }

        SHA256.HashData(span[..at], span[at..]);
        return bytes;
    }

    /// <summary>The records stored in <paramref name="bytes"/>.</summary>
    /// <exception cref="InvalidDataException">The object is not a segment, is cut short, or its checksum fails.</exception>
    public static (int PageSize, IReadOnlyList<BackupRecord> Records) Decode(ReadOnlyMemory<byte> bytes)
    {
        var span = bytes.Span;
        if (span.Length < Magic.Length + 8 + SHA256.HashSizeInBytes || !span[..Magic.Length].SequenceEqual(Magic))
        {
            throw new InvalidDataException("Not a backup segment (no SQPSEG01 header).");
        }

        var body = span[..^SHA256.HashSizeInBytes];
        if (!SHA256.HashData(body).AsSpan().SequenceEqual(span[^SHA256.HashSizeInBytes..]))
        {
            throw new InvalidDataException("The backup segment's checksum does not match its content.");
        }

        var at = Magic.Length;
        var pageSize = (int)BinaryPrimitives.ReadUInt32BigEndian(span[at..]);
        var count = BinaryPrimitives.ReadUInt32BigEndian(span[(at + 4)..]);
        at += 8;
        var records = new List<BackupRecord>();
        for (var i = 0; i < count; i++)
        {
            Need(body, at, RecordHeaderSize);
            var pageCount = (int)BinaryPrimitives.ReadUInt32BigEndian(span[(at + 28)..]);
            var header = span[at..];
            at += RecordHeaderSize;
            var pages = new List<(uint, ReadOnlyMemory<byte>)>(pageCount);
            for (var p = 0; p < pageCount; p++)
            {
                Need(body, at, 4 + pageSize);
                pages.Add((BinaryPrimitives.ReadUInt32BigEndian(span[at..]), bytes.Slice(at + 4, pageSize)));
                at += 4 + pageSize;
            }

            records.Add(new BackupRecord(
                (long)BinaryPrimitives.ReadUInt64BigEndian(header),
                (long)BinaryPrimitives.ReadUInt64BigEndian(header[8..]),
                new DateTimeOffset(BinaryPrimitives.ReadInt64BigEndian(header[16..]), TimeSpan.Zero),
                BinaryPrimitives.ReadUInt32BigEndian(header[24..]),
                pages));
        }

        if (at != body.Length)
        {
            throw new InvalidDataException("The backup segment has bytes past its last record.");
        }

        return (pageSize, records);
    }

    private static void Need(ReadOnlySpan<byte> body, int at, int length)
    {
        if (at + length > body.Length)
        {
            throw new InvalidDataException("The backup segment is cut short.");
        }
    }
}

/// <summary>The pages transactions <paramref name="FirstTransaction"/> to <paramref name="LastTransaction"/> left, in
/// the order to write them, and the database's size in pages after the last, committed at <paramref name="CommittedAt"/>.</summary>
internal sealed record BackupRecord(long FirstTransaction, long LastTransaction, DateTimeOffset CommittedAt, uint DatabasePages, IReadOnlyList<(uint Page, ReadOnlyMemory<byte> Image)> Pages)
{
    /// <summary>The record of one transaction read from the log.</summary>
    public static BackupRecord Of(long transaction, DateTimeOffset committedAt, WalTransaction read) =>
        new(transaction, transaction, committedAt, read.DatabasePages, [.. Enumerable.Range(0, read.FrameCount).Select(read.Frame)]);

    /// <summary>A snapshot: every page of <paramref name="file"/> (a whole database file with pages of
    /// <paramref name="pageSize"/> bytes) as it was after <paramref name="transaction"/>, to apply to an empty file.</summary>
    public static BackupRecord Snapshot(ReadOnlyMemory<byte> file, int pageSize, long transaction, DateTimeOffset committedAt) =>
        new(1, transaction, committedAt, (uint)(file.Length / pageSize),
            [.. Enumerable.Range(0, file.Length / pageSize).Select(i => ((uint)(i + 1), file.Slice(i * pageSize, pageSize)))]);

    /// <summary>One record for consecutive <paramref name="records"/>: the latest image of each page they changed that
    /// the database still has after the last. It restores to the last one's end, and to no point inside.</summary>
    /// <exception cref="ArgumentException">The records are empty or not consecutive.</exception>
    public static BackupRecord Compact(IReadOnlyList<BackupRecord> records)
    {
        if (records.Count == 0)
        {
            throw new ArgumentException("Nothing to compact.", nameof(records));
        }

        var latest = new SortedDictionary<uint, ReadOnlyMemory<byte>>();
        for (var i = 0; i < records.Count; i++)
        {
            if (i > 0 && records[i].FirstTransaction != records[i - 1].LastTransaction + 1)
            {
                throw new ArgumentException($"Transaction {records[i - 1].LastTransaction + 1} is missing before {records[i].FirstTransaction}.", nameof(records));
            }

            foreach (var (page, image) in records[i].Pages)
            {
                latest[page] = image;
            }
        }

        var last = records[^1];
        return new(records[0].FirstTransaction, last.LastTransaction, last.CommittedAt, last.DatabasePages,
            [.. latest.Where(p => p.Key <= last.DatabasePages).Select(p => (p.Key, p.Value))]);
    }

    /// <summary>Writes the record's pages into <paramref name="database"/> (a file, or an image in memory) and gives it
    /// the record's size.</summary>
    public void ApplyTo(Stream database, int pageSize)
    {
        foreach (var (page, image) in Pages)
        {
            if (page == 0)
            {
                throw new InvalidDataException("A backup record names page 0.");
            }

            database.Position = (long)(page - 1) * pageSize;
            database.Write(image.Span);
        }

        database.SetLength((long)DatabasePages * pageSize);
    }
}
