using System.Buffers.Binary;

namespace SqlitePool.Engine.Backup;

/// <summary>
/// How many transactions a database had committed at a place in its log, kept in the pool's lock file so that its
/// transaction ids go on from there when it opens again: counted forward through the log's commits after the place.
/// </summary>
/// <remarks>
/// <para>SQLite starts its log over only after a checkpoint has copied every frame back, and the pool writes a mark
/// (synced) before each checkpoint it runs: so at an open the log is the mark's generation, or the one after it (whose
/// first salt is the mark's plus one: SQLite adds one at each start-over), and the transactions since the mark are
/// exactly the commits counted in it. SQLite draws the salts of a log that starts from nothing (after a truncation, or
/// when a close deleted it) at random, so an open that finds the mark's log gone marks again. Otherwise (a checkpoint
/// the pool did not run, a lost lock file) the count is uncertain, and ids jump by <see cref="UncertainJump"/> so that
/// none is ever given twice.</para>
/// <para>Layout: magic <c>SQPTXN01</c>, transactions (i64), then the position (<see cref="WalPosition"/>: salts, frames,
/// checksum), and SQLite's log checksum of all before it; integers big-endian. A position of frame 0 with zero salts means no log.</para>
/// </remarks>
internal readonly record struct TransactionMark(long Transactions, WalPosition Position, bool Foreign = false)
{
    /// <summary>The jump of ids after a count that may have missed commits.</summary>
    public const long UncertainJump = 1L << 32;

    private const int Size = 8 + 8 + 4 + 4 + 8 + 4 + 4 + 8;
    private static readonly byte[] Magic = "SQPTXN01"u8.ToArray();

    // The magic of a mark over content a continuous backup did not ship (a copy or a restore put in place): a chain
    // stored under the name is not this file's until a snapshot of it restarts the chain.
    private static readonly byte[] ForeignMagic = "SQPTXNF1"u8.ToArray();

    /// <summary>True when the mark names a place in a log (rather than none).</summary>
    public bool HasLog => Position.Salt1 != 0 || Position.Salt2 != 0 || Position.Frames != 0;

    /// <summary>The mark stored in <paramref name="file"/>, or null when it holds none (new, or damaged).</summary>
    public static TransactionMark? Read(FileStream file)
    {
        Span<byte> bytes = stackalloc byte[Size];
        if (RandomAccess.Read(file.SafeFileHandle, bytes, 0) < Size || !(bytes[..8].SequenceEqual(Magic) || bytes[..8].SequenceEqual(ForeignMagic))
            || Sum(bytes) != (BinaryPrimitives.ReadUInt32BigEndian(bytes[^8..]), BinaryPrimitives.ReadUInt32BigEndian(bytes[^4..])))
        {
            return null;
        }

        return new TransactionMark(
            BinaryPrimitives.ReadInt64BigEndian(bytes[8..]),
            new WalPosition(
                BinaryPrimitives.ReadUInt32BigEndian(bytes[16..]),
                BinaryPrimitives.ReadUInt32BigEndian(bytes[20..]),
                BinaryPrimitives.ReadInt64BigEndian(bytes[24..]),
                BinaryPrimitives.ReadUInt32BigEndian(bytes[32..]),
                BinaryPrimitives.ReadUInt32BigEndian(bytes[36..])),
            bytes[..8].SequenceEqual(ForeignMagic));
    }

    /// <summary>Writes the mark over the one in <paramref name="file"/>; synced when <paramref name="durable"/>.</summary>
    public void Write(FileStream file, bool durable)
    {
        Span<byte> bytes = stackalloc byte[Size];
        (Foreign ? ForeignMagic : Magic).CopyTo(bytes);
        BinaryPrimitives.WriteInt64BigEndian(bytes[8..], Transactions);
        BinaryPrimitives.WriteUInt32BigEndian(bytes[16..], Position.Salt1);
        BinaryPrimitives.WriteUInt32BigEndian(bytes[20..], Position.Salt2);
        BinaryPrimitives.WriteInt64BigEndian(bytes[24..], Position.Frames);
        BinaryPrimitives.WriteUInt32BigEndian(bytes[32..], Position.Checksum1);
        BinaryPrimitives.WriteUInt32BigEndian(bytes[36..], Position.Checksum2);
        var (s0, s1) = Sum(bytes);
        BinaryPrimitives.WriteUInt32BigEndian(bytes[^8..], s0);
        BinaryPrimitives.WriteUInt32BigEndian(bytes[^4..], s1);
        RandomAccess.Write(file.SafeFileHandle, bytes, 0);
        if (durable)
        {
            RandomAccess.FlushToDisk(file.SafeFileHandle);
        }
    }

    /// <summary>Marks the lock file at <paramref name="lockPath"/> of a database that is not open (a copy or a restore
    /// about to take that name) as having committed <paramref name="transactions"/>, with no log; synced. A mark already
    /// there that is further on (an earlier database of that name) stays, so ids never repeat. The mark is foreign: a
    /// continuous backup stored under the name is not of this content.</summary>
    public static void Carry(string lockPath, long transactions)
    {
        using var lockFile = new FileStream(lockPath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        new TransactionMark(Math.Max(transactions, Read(lockFile)?.Transactions ?? 0), default, Foreign: true).Write(lockFile, durable: true);
    }

    // SQLite's log checksum, over everything before it.
    private static (uint, uint) Sum(ReadOnlySpan<byte> bytes) => WalFormat.Checksum(bytes[..^8], bigEndian: true, 0, 0);

    /// <summary>The transactions committed when a database opens: <paramref name="mark"/> (null: none kept) counted
    /// forward through the commits of its log at <paramref name="logPath"/>, which no connection has open yet.
    /// <paramref name="databaseExists"/> says whether the database file has content (then a missing mark is a lost
    /// one, and the count cannot be known).</summary>
    public static OpenCount AtOpen(TransactionMark? mark, bool databaseExists, string logPath)
    {
        var after = mark is { HasLog: true } m ? m.Position : (WalPosition?)null;
        var read = WalReader.Count(logPath, after);
        var since = read.Transactions.Count;
        var logFrames = read.Header is null ? 0 : since > 0 ? read.Transactions[^1].End.Frames : after is { } same && !read.GenerationChanged ? same.Frames : 0;
        var logEnd = read.Header is not { } log ? (WalPosition?)null
            : since > 0 ? read.Transactions[^1].End
            : after is { } marked && !read.GenerationChanged && read.PositionFound ? marked : log.Start;
        if (mark is not { } kept)
        {
            return new(databaseExists ? since + UncertainJump : since, !databaseExists, logFrames, MarkCurrent: false, logEnd);
        }

        if (read.Header is not { } header)
        {
            // No log: nothing committed since the mark. A mark of a log that is gone (truncated, or deleted by a close)
            // does not know the salts of the next one, which SQLite may draw at random: the open marks again.
            return new(kept.Transactions, true, 0, MarkCurrent: !kept.HasLog, logEnd);
        }

        if (!kept.HasLog)
        {
            return new(kept.Transactions + since, true, logFrames, MarkCurrent: false, logEnd);
        }

        if (!read.GenerationChanged)
        {
            // The mark's own log, unless its frame is gone (a mark that reached the disk before the log's tail did, at
            // synchronous=NORMAL, and a power loss): then commits after it may have been lost and written again.
            return read.PositionFound
                ? new(kept.Transactions + since, true, logFrames, MarkCurrent: true, logEnd)
                : new(kept.Transactions + since + UncertainJump, false, logFrames, MarkCurrent: false, logEnd);
        }

        // The log started over since the mark: exactly once if its first salt is one more.
        return header.Salt1 == unchecked(kept.Position.Salt1 + 1)
            ? new(kept.Transactions + since, true, logFrames, MarkCurrent: false, logEnd)
            : new(kept.Transactions + since + UncertainJump, false, logFrames, MarkCurrent: false, logEnd);
    }
}

/// <summary>What an open counted: the transactions committed; whether the count is certain (else it includes
/// <see cref="TransactionMark.UncertainJump"/>); the frames of the log's generation up to its last commit (where
/// SQLite's recovery will find its end); and whether the lock file's mark is of this log, or the open must mark again
/// once the writer has the log open; and the position after the log's last commit (null: no log), where capture for a
/// continuous backup goes on.</summary>
internal readonly record struct OpenCount(long Transactions, bool Certain, long LogFrames, bool MarkCurrent, WalPosition? LogEnd = null);
