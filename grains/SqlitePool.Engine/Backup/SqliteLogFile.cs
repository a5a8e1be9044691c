using System.Runtime.InteropServices;
using SQLitePCL;

namespace SqlitePool.Engine.Backup;

/// <summary>
/// Reads a connection's write-ahead log and database file through SQLite's own handles of them
/// (<c>SQLITE_FCNTL_JOURNAL_POINTER</c> / <c>SQLITE_FCNTL_FILE_POINTER</c>, then the file's <c>xRead</c> and
/// <c>xFileSize</c>): the pool never opens either itself while the database is open (DESIGN invariant 9).
/// </summary>
/// <remarks>Call on the connection's own thread: the handle lives while the connection keeps the log open.</remarks>
internal static unsafe partial class SqliteLogFile
{
    private const int FilePointer = 7; // SQLITE_FCNTL_FILE_POINTER
    private const int JournalPointer = 28; // SQLITE_FCNTL_JOURNAL_POINTER

    /// <summary>Fills <paramref name="buffer"/> from the log of the main database at <paramref name="offset"/>.</summary>
    /// <returns>False when the log is not open on the connection or ends before the buffer is full.</returns>
    /// <exception cref="IOException">SQLite's read failed.</exception>
    public static bool TryRead(sqlite3 db, Span<byte> buffer, long offset) => TryRead(db.DangerousGetHandle(), buffer, offset);

    /// <inheritdoc cref="TryRead(sqlite3, Span{byte}, long)"/>
    public static bool TryRead(IntPtr db, Span<byte> buffer, long offset) =>
        OpenFile(db, JournalPointer) is var (file, methods) && file != 0 && Read(file, methods, buffer, offset);

    /// <summary>The whole main database file of <paramref name="db"/> as it is on disk (what checkpoints have copied
    /// back; the log holds the rest), read on the connection's thread while nothing checkpoints.</summary>
    /// <exception cref="IOException">SQLite's read failed, or the file is over 2 GiB.</exception>
    public static byte[] ReadDatabase(sqlite3 db)
    {
        var (file, methods) = OpenFile(db.DangerousGetHandle(), FilePointer);
        if (file == 0)
        {
            throw new IOException("SQLite has no database file open on the connection.");
        }

        // ... int (*xFileSize)(sqlite3_file*, sqlite3_int64 *pSize) is the seventh member.
        long size;
        var fileSize = (delegate* unmanaged[Cdecl]<IntPtr, long*, int>)*(IntPtr*)(methods + (6 * IntPtr.Size));
        if (fileSize(file, &size) != raw.SQLITE_OK || size > Array.MaxLength)
        {
            throw new IOException("SQLite could not tell the database file's size, or it is over 2 GiB.");
        }

        var bytes = new byte[size];
        for (long at = 0; at < size; at += 1 << 20)
        {
            if (!Read(file, methods, bytes.AsSpan((int)at, (int)Math.Min(1 << 20, size - at)), at))
            {
                throw new IOException("The database file ended before its size.");
            }
        }

        return bytes;
    }

    // The sqlite3_file of the main database's file or log, and its methods; zero when none is open.
    private static (IntPtr File, IntPtr Methods) OpenFile(IntPtr db, int operation)
    {
        IntPtr file = 0;
        // A UTF-8 literal's bytes are followed by a terminating zero, as SQLite expects of a schema name.
        if (FileControl(db, "main"u8, operation, &file) != raw.SQLITE_OK || file == 0)
        {
            return (0, 0);
        }

        // struct sqlite3_file { const sqlite3_io_methods *pMethods; }; a closed file has no methods.
        var methods = *(IntPtr*)file;
        return methods == 0 ? (0, 0) : (file, methods);
    }

    private static bool Read(IntPtr file, IntPtr methods, Span<byte> buffer, long offset)
    {
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
            _ => throw new IOException($"SQLite could not read its file (error {result})."),
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
