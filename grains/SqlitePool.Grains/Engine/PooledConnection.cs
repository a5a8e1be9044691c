using Microsoft.Data.Sqlite;
using SQLitePCL;

namespace SqlitePool.Engine;

/// <summary>A connection of the pool together with the worker thread that serves it.</summary>
internal sealed class PooledConnection(ConnectionWorker worker, bool isWriter)
{
    public ConnectionWorker Worker { get; } = worker;

    public bool IsWriter { get; } = isWriter;

    /// <summary>Runs on the worker: brings the connection back to autocommit before it returns to the pool.</summary>
    public static void Reset(SqliteConnection connection)
    {
        var db = connection.Handle!;
        if (raw.sqlite3_get_autocommit(db) == 0)
        {
            // A failed ROLLBACK leaves nothing better to do; the next BEGIN reports the state.
            raw.sqlite3_exec(db, "ROLLBACK");
        }
    }
}
