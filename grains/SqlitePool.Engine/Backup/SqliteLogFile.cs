using System.Runtime.InteropServices;
using SQLitePCL;

namespace SqlitePool.Engine.Backup;

/// <summary>
/// Reads a connection's write-ahead log through SQLite's own handle of it (<c>SQLITE_FCNTL_JOURNAL_POINTER</c>, then the
/// file's <c>xRead</c>): the pool never opens the log itself while the database is open (DESIGN invariant 9).
/// </summary>
/// <remarks>Call on the connection's own thread: the handle lives while the connection keeps the log open.</remarks>
internal static unsafe partial class SqliteLogFile
{
    private const int JournalPointer = 28; // SQLITE_FCNTL_JOURNAL_POINTER

    /// <summary>Fills <paramref name="buffer"/> from the log of the main database at <paramref name="offset"/>.</summary>
    /// <returns>False when the log is not open on the connection or ends before the buffer is full.</returns>
    /// <exception cref="IOException">SQLite's read failed.</exception>
    public static bool TryRead(sqlite3 db, Span<byte> buffer, long offset) => TryRead(db.DangerousGetHandle(), buffer, offset);

    /// <inheritdoc cref="TryRead(sqlite3, Span{byte}, long)"/>
    public static bool TryRead(IntPtr db, Span<byte> buffer, long offset)
    {
        IntPtr file = 0;
        // A UTF-8 literal's bytes are followed by a terminating zero, as SQLite expects of a schema name.
        if (FileControl(db, "main"u8, JournalPointer, &file) != raw.SQLITE_OK || file == 0)
        {
            return false;
        }

        // struct sqlite3_file { const sqlite3_io_methods *pMethods; }; a closed file has no methods.
        var methods = *(IntPtr*)file;
        if (methods == 0)
        {
            return false;
        }

        // struct sqlite3_io_methods { int iVersion; int (*xClose)(...); int (*xRead)(sqlite3_file*, void*, int, sqlite3_int64); ... }
        var read = (delegate* unmanaged[Cdecl]<IntPtr, byte*, int, long, int>)*(IntPtr*)(methods + (2 * IntPtr.Size));
        int result;
        fixed (byte* bytes = buffer)
        {
            result = read(file, bytes, buffer.Length, offset);
        }

        return result switch
        {
            raw.SQLITE_OK => true,
            raw.SQLITE_IOERR_SHORT_READ => false,
            _ => throw new IOException($"SQLite could not read its write-ahead log (error {result})."),
        };
    }

    private static int FileControl(IntPtr db, ReadOnlySpan<byte> schema, int operation, IntPtr* argument)
    {
        fixed (byte* name = schema)
        {
            return FileControl(db, name, operation, argument);
        }
    }

    [LibraryImport("e_sqlite3", EntryPoint = "sqlite3_file_control")]
    private static partial int FileControl(IntPtr db, byte* schema, int operation, IntPtr* argument);
}
