using System.Runtime.InteropServices;

namespace SqlitePool.Engine;

/// <summary>
/// Entry points of the bundled SQLite (e_sqlite3, the library SQLitePCLRaw loads) that SQLitePCLRaw does not wrap.
/// Handles are the raw pointers of connections and statements the caller keeps alive.
/// </summary>
internal static partial class SqliteNative
{
    /// <summary>SQLITE_TXN_NONE: no read or write transaction is open on the connection.</summary>
    public const int TransactionNone = 0;

    /// <summary>SQLITE_CHECKPOINT_PASSIVE.</summary>
    public const int CheckpointPassive = 0;

    private const string Library = "e_sqlite3";

    /// <summary>Called after each commit on a connection in WAL mode: (argument, connection, database name, frames in the log).</summary>
    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    public delegate int WalHook(IntPtr argument, IntPtr db, IntPtr database, int frames);

    /// <summary>SQLITE_TXN_NONE, _READ or _WRITE: the strongest transaction open on any schema of the connection.</summary>
    [LibraryImport(Library, EntryPoint = "sqlite3_txn_state")]
    public static partial int TransactionState(IntPtr db, IntPtr schema);

    /// <summary>The mutex SQLite holds around every call on the connection (zero when calls are not serialized).</summary>
    [LibraryImport(Library, EntryPoint = "sqlite3_db_mutex")]
    public static partial IntPtr ConnectionMutex(IntPtr db);

    [LibraryImport(Library, EntryPoint = "sqlite3_mutex_enter")]
    public static partial void EnterMutex(IntPtr mutex);

    [LibraryImport(Library, EntryPoint = "sqlite3_mutex_leave")]
    public static partial void LeaveMutex(IntPtr mutex);

    /// <summary>The prepared statement after <paramref name="stmt"/> on the connection (the first one for zero).</summary>
    [LibraryImport(Library, EntryPoint = "sqlite3_next_stmt")]
    public static partial IntPtr NextStatement(IntPtr db, IntPtr stmt);

    /// <summary>Nonzero when the statement has been stepped and has neither finished nor been reset.</summary>
    [LibraryImport(Library, EntryPoint = "sqlite3_stmt_busy")]
    public static partial int StatementBusy(IntPtr stmt);

    /// <summary>The UTF-8 text a prepared statement was prepared from.</summary>
    [LibraryImport(Library, EntryPoint = "sqlite3_sql")]
    public static partial IntPtr StatementText(IntPtr stmt);

    [LibraryImport(Library, EntryPoint = "sqlite3_reset")]
    public static partial int Reset(IntPtr stmt);

    /// <summary>Installs the connection's commit callback in WAL mode; it replaces SQLite's own auto-checkpoint.</summary>
    [LibraryImport(Library, EntryPoint = "sqlite3_wal_hook")]
    public static partial IntPtr SetWalHook(IntPtr db, IntPtr callback, IntPtr argument);

    /// <summary>Checkpoints the database named by the UTF-8 text at <paramref name="database"/> (every one for zero).</summary>
    [LibraryImport(Library, EntryPoint = "sqlite3_wal_checkpoint_v2")]
    public static partial int Checkpoint(IntPtr db, IntPtr database, int mode, out int logFrames, out int checkpointedFrames);
}
