using System.Runtime.InteropServices;
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
/// </remarks>
internal sealed class WalProgress : IDisposable
{
    /// <summary>SQLite's default auto-checkpoint threshold, in frames.</summary>
    public const int AutoCheckpointFrames = 1000;

    // One delegate for every connection: the argument says which. Kept alive for the process.
    private static readonly SqliteNative.WalHook Hook = OnCommit;
    private static readonly IntPtr HookPointer = Marshal.GetFunctionPointerForDelegate(Hook);

    private readonly GCHandle _self;
    private long _frames;
    private long _backfilled;

    private WalProgress() => _self = GCHandle.Alloc(this);

    /// <summary>Frames in the log not yet copied back into the database.</summary>
    public long FramesToCheckpoint => Math.Max(0, Volatile.Read(ref _frames) - Volatile.Read(ref _backfilled));

    /// <summary>Installs the hook on the writer; dispose only after the connection has closed.</summary>
    public static WalProgress Install(sqlite3 db)
    {
        var progress = new WalProgress();
        SqliteNative.SetWalHook(db.DangerousGetHandle(), HookPointer, GCHandle.ToIntPtr(progress._self));
        return progress;
    }

    /// <summary>Notes what a checkpoint reported: the log's frames and how many of them are in the database.</summary>
    public void Checkpointed(long logFrames, long checkpointedFrames)
    {
        if (logFrames >= 0 && checkpointedFrames >= 0)
        {
            Volatile.Write(ref _frames, logFrames);
            Volatile.Write(ref _backfilled, checkpointedFrames);
        }
    }

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
            var previous = Volatile.Read(ref progress._frames);
            if (frames <= previous || Volatile.Read(ref progress._backfilled) >= previous)
            {
                // SQLite starts the log over once every frame is back in the database and no reader needs it; when it
                // could have, count it as started over (a reader that held it back is corrected by the next checkpoint).
                Volatile.Write(ref progress._backfilled, 0);
            }

            Volatile.Write(ref progress._frames, frames);
        }

        if (frames >= AutoCheckpointFrames
            && SqliteNative.Checkpoint(db, database, SqliteNative.CheckpointPassive, out var log, out var checkpointed) == raw.SQLITE_OK)
        {
            progress?.Checkpointed(log, checkpointed);
        }

        return raw.SQLITE_OK;
    }

    private static bool IsMain(IntPtr name) =>
        Marshal.ReadByte(name, 0) == 'm' && Marshal.ReadByte(name, 1) == 'a' && Marshal.ReadByte(name, 2) == 'i'
        && Marshal.ReadByte(name, 3) == 'n' && Marshal.ReadByte(name, 4) == 0;
}
