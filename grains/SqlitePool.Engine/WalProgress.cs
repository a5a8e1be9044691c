using System.Buffers.Binary;
using System.Runtime.InteropServices;
using SqlitePool.Engine.Backup;
using SQLitePCL;

namespace SqlitePool.Engine;

/// <summary>
/// How far the write-ahead log runs ahead of the database file, learned through SQLite alone: the writer's WAL hook
/// reports the log's length after each commit, and every checkpoint reports what it copied back. Reading the
/// <c>-shm</c> file instead would open a descriptor of it, and closing that descriptor drops every POSIX lock the
/// process holds on the file, SQLite's WAL locks included.
/// </summary>
/// <remarks>
/// The hook replaces SQLite's own auto-checkpoint, so it runs that checkpoint itself: PASSIVE, once the log holds
/// <see cref="AutoCheckpointFrames"/> frames, as SQLite would. It runs on whichever thread commits on the writer
/// (the writer's worker or a silo-local lease's); the counts are read from anywhere.
/// <para>It also counts the transactions committed (<see cref="Transactions"/>, the database's transaction ids), and
/// before every checkpoint the pool runs, which may let SQLite start the log over, it writes a synced
/// <see cref="TransactionMark"/> in the lock file: the count and the log's end, from which the next open counts on.</para>
/// </remarks>
internal sealed class WalProgress : IDisposable
{
    /// <summary>SQLite's default auto-checkpoint threshold, in frames.</summary>
    public const int AutoCheckpointFrames = 1000;

    // One delegate for every connection: the argument says which. Kept alive for the process.
    private static readonly SqliteNative.WalHook Hook = OnCommit;
    private static readonly IntPtr HookPointer = Marshal.GetFunctionPointerForDelegate(Hook);

    private readonly GCHandle _self;
    private readonly FileStream? _lockFile;
    private long _frames;
    private long _backfilled;
    private long _transactions;
    private long _logFrames; // the log's frames up to its last commit, as SQLite's header says: where a mark points
    private long _lastHookCheckpoint; // the log's frames at the hook's last checkpoint (on the committing thread only)
    private long _markFailures;
    private long _lastCommitTicks; // UTC ticks of the last commit the hook saw (written on the committing thread only)

    private readonly TimeProvider _time;

    private WalProgress(long transactions, long logFrames, FileStream? lockFile, TimeProvider time)
    {
        _time = time;
        _transactions = transactions;
        _logFrames = logFrames;
        _lockFile = lockFile;
        _self = GCHandle.Alloc(this);
    }

    /// <summary>The transactions committed on the database: the last one's id.</summary>
    public long Transactions => Interlocked.Read(ref _transactions);

    /// <summary>When the last commit counted was made (UTC), or null when none was since the open.</summary>
    public DateTimeOffset? LastCommitAt => Interlocked.Read(ref _lastCommitTicks) is > 0 and var ticks ? new DateTimeOffset(ticks, TimeSpan.Zero) : null;

    /// <summary>The database's content is not what its continuous backup shipped (it was copied or restored in place):
    /// kept in every mark until the backup's chain restarts from a snapshot of it.</summary>
    public bool Foreign { get; set; }

    /// <summary>The continuous backup that captures each commit, or null (set on the writer's thread before its first
    /// commit is counted).</summary>
    public Backup.BackupShipper? Shipper { get; set; }

    /// <summary>Frames in the log not yet copied back into the database.</summary>
    public long FramesToCheckpoint => Math.Max(0, Volatile.Read(ref _frames) - Volatile.Read(ref _backfilled));

    /// <summary>Installs the hook on the writer, counting on from <paramref name="transactions"/> in a log of
    /// <paramref name="logFrames"/> committed frames, with marks written to <paramref name="lockFile"/> (none when null);
    /// dispose only after the connection has closed.</summary>
    public static WalProgress Install(sqlite3 db, long transactions = 0, long logFrames = 0, FileStream? lockFile = null, TimeProvider? time = null)
    {
        var progress = new WalProgress(transactions, logFrames, lockFile, time ?? TimeProvider.System);
        SqliteNative.SetWalHook(db.DangerousGetHandle(), HookPointer, GCHandle.ToIntPtr(progress._self));
        return progress;
    }

    /// <summary>Notes what a checkpoint reported: the log's frames and how many of them are in the database.</summary>
    public void Checkpointed(long logFrames, long checkpointedFrames)
    {
        if (logFrames >= 0 && checkpointedFrames >= 0)
        {
            Volatile.Write(ref _logFrames, logFrames);
            Volatile.Write(ref _frames, logFrames);
            Volatile.Write(ref _backfilled, checkpointedFrames);
        }
    }

    /// <summary>On the writer's thread, before a checkpoint (<paramref name="durable"/>) or as the writer closes without
    /// one: writes the count and the log's end to the lock file.</summary>
    /// <returns>False when it could not be written (then no checkpoint may run).</returns>
    public bool TryMark(sqlite3 db, bool durable) => TryMark(db.DangerousGetHandle(), durable);

    public void Dispose()
    {
        if (_self.IsAllocated)
        {
            _self.Free();
        }
    }

    private static int OnCommit(IntPtr argument, IntPtr db, IntPtr database, int frames)
    {
        // Attached databases in WAL mode commit through the hook too: they keep SQLite's auto-checkpoint, uncounted.
        var progress = IsMain(database) ? (WalProgress)GCHandle.FromIntPtr(argument).Target! : null;
        if (progress is not null)
        {
            var transaction = Interlocked.Increment(ref progress._transactions);
            // Never earlier than the commit before (the clock may step back): a restore to a time must find the
            // commits in the order of their ids.
            var ticks = Math.Max(progress._time.GetUtcNow().UtcTicks, Interlocked.Read(ref progress._lastCommitTicks) + 1);
            Interlocked.Exchange(ref progress._lastCommitTicks, ticks);

            // Before any checkpoint can copy its frames away and let the log start over.
            progress.Shipper?.Committed(db, transaction, new DateTimeOffset(ticks, TimeSpan.Zero));
            var previous = Volatile.Read(ref progress._frames);
            if (frames <= previous || Volatile.Read(ref progress._backfilled) >= previous)
            {
                // SQLite starts the log over once every frame is back in the database and no reader needs it; when it
                // could have, count it as started over (a reader that held it back is corrected by the next checkpoint).
                Volatile.Write(ref progress._backfilled, 0);
            }

            if (frames <= previous)
            {
                progress._lastHookCheckpoint = 0; // the log started over
            }

            Volatile.Write(ref progress._frames, frames);
            Volatile.Write(ref progress._logFrames, frames);
        }

        if (frames >= AutoCheckpointFrames && (progress is null || progress.CheckpointDue(frames)))
        {
            // Nothing may leave a native callback. A checkpoint without its mark could let the log start over
            // unmarked (ids could repeat after a crash): without the mark, none runs.
            try
            {
                if (progress?.TryMark(db, durable: true) != false
                    && SqliteNative.Checkpoint(db, database, SqliteNative.CheckpointPassive, out var log, out var checkpointed) == raw.SQLITE_OK)
                {
                    progress?.Checkpointed(log, checkpointed);
                }
            }
            catch (Exception)
            {
                // A failure reading the log (it fails the mark, and so the checkpoint): the governor tries later.
            }
        }

        return raw.SQLITE_OK;
    }

    /// <summary>Marks that could not be written (the lock file's disk failed): the checkpoints they preceded did not run.</summary>
    public long MarkFailures => Interlocked.Read(ref _markFailures);

    /// <summary>Puts the pool's hook back on the writer (SQL such as <c>PRAGMA wal_autocheckpoint</c> replaces it).</summary>
    /// <returns>False when another hook had replaced it: commits meanwhile were not counted.</returns>
    public bool Reinstall(sqlite3 db) => SqliteNative.SetWalHook(db.DangerousGetHandle(), HookPointer, GCHandle.ToIntPtr(_self)) == GCHandle.ToIntPtr(_self);

    /// <summary>Counts <paramref name="missed"/> more transactions: commits the hook may not have seen.</summary>
    public void Skip(long missed) => Interlocked.Add(ref _transactions, missed);

    // In a commit past the threshold: the first time, then only after another 100 frames while checkpoints find readers
    // in the way (each tries behind a synced mark).
    private bool CheckpointDue(long frames)
    {
        if (frames < _lastHookCheckpoint || frames >= _lastHookCheckpoint + 100)
        {
            _lastHookCheckpoint = frames;
            return true;
        }

        return false;
    }

    private bool TryMark(IntPtr db, bool durable)
    {
        if (_lockFile is null)
        {
            return true;
        }

        try
        {
            new TransactionMark(Transactions, LogEnd(db, Volatile.Read(ref _logFrames)), Foreign).Write(_lockFile, durable);
            return true;
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or UnauthorizedAccessException)
        {
            Interlocked.Increment(ref _markFailures);
            return false;
        }
    }

    // The position after the log's last commit frame, read through SQLite's handle; no log (all zero) when there is
    // none, or when its frame does not read back as this generation's (a count from there can only be too high).
    private static WalPosition LogEnd(IntPtr db, long frames)
    {
        Span<byte> header = stackalloc byte[WalFormat.HeaderSize];
        if (!SqliteLogFile.TryRead(db, header, 0) || WalFormat.ReadHeader(header) is not { } log)
        {
            return default;
        }

        if (frames == 0)
        {
            // No commit in it: the next may write a new header, with salts SQLite may draw at random.
            return default;
        }

        Span<byte> frame = stackalloc byte[WalFormat.FrameHeaderSize];
        return SqliteLogFile.TryRead(db, frame, WalFormat.HeaderSize + ((frames - 1) * log.FrameSize))
            && BinaryPrimitives.ReadUInt32BigEndian(frame[8..]) == log.Salt1 && BinaryPrimitives.ReadUInt32BigEndian(frame[12..]) == log.Salt2
            && BinaryPrimitives.ReadUInt32BigEndian(frame[4..]) != 0
                ? new WalPosition(log.Salt1, log.Salt2, frames, BinaryPrimitives.ReadUInt32BigEndian(frame[16..]), BinaryPrimitives.ReadUInt32BigEndian(frame[20..]))
                : default;
    }

    private static bool IsMain(IntPtr name) =>
        Marshal.ReadByte(name, 0) == 'm' && Marshal.ReadByte(name, 1) == 'a' && Marshal.ReadByte(name, 2) == 'i'
        && Marshal.ReadByte(name, 3) == 'n' && Marshal.ReadByte(name, 4) == 0;
}
