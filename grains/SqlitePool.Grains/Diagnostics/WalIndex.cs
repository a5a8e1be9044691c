using System.Buffers.Binary;

namespace SqlitePool.Diagnostics;

/// <summary>
/// Reads how far checkpoints lag behind the write-ahead log from the WAL index (<c>-shm</c>) header, without a
/// connection or a checkpoint: <c>mxFrame</c> (frames in the log) at byte 16 and <c>nBackfill</c> (frames copied
/// back into the database) at byte 96, both in the machine's byte order (SQLite's wal.c file format).
/// </summary>
internal static class WalIndex
{
    private const int MaxFrameOffset = 16, BackfillOffset = 96, HeaderBytes = 100;

    /// <summary>Frames written to the log and not yet checkpointed; 0 when there is no log.</summary>
    public static long CheckpointLag(string databasePath)
    {
        Span<byte> header = stackalloc byte[HeaderBytes];
        try
        {
            using var shm = new FileStream(databasePath + "-shm", FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, 1, FileOptions.None);
            if (shm.ReadAtLeast(header, HeaderBytes, throwOnEndOfStream: false) < HeaderBytes)
            {
                return 0;
            }
        }
        catch (IOException)
        {
            return 0;
        }

        var frames = Read(header[MaxFrameOffset..]);
        var backfilled = Read(header[BackfillOffset..]);
        return frames > backfilled ? frames - backfilled : 0;
    }

    private static uint Read(ReadOnlySpan<byte> bytes) =>
        BitConverter.IsLittleEndian ? BinaryPrimitives.ReadUInt32LittleEndian(bytes) : BinaryPrimitives.ReadUInt32BigEndian(bytes);
}
