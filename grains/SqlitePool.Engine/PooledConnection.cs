using Microsoft.Data.Sqlite;
using SQLitePCL;

namespace SqlitePool.Engine;

/// <summary>A connection of the pool together with its worker (its queue of work on the scheduler).</summary>
internal sealed class PooledConnection(ConnectionWorker worker, bool isWriter)
{
    // On a revoked connection nothing prepares, and nothing steps past its first progress check.
    private static readonly delegate_progress RevokedProgress = static _ => 1;
    private static readonly strdelegate_authorizer RevokedAuthorizer = static (_, _, _, _, _, _) => raw.SQLITE_DENY;

    // Used only by the one holder of a ConnectionLease at a time.
    private readonly Dictionary<string, SqliteCommand> _commands = new(StringComparer.Ordinal);
    private SqliteCommand? _lastCommand;

    public ConnectionWorker Worker { get; } = worker;

    public bool IsWriter { get; } = isWriter;

    /// <summary>When it was last handed out (a <see cref="TimeProvider"/> timestamp; 0 when not measured).</summary>
    public long TakenAt { get; set; }

    /// <summary>Under the pool's lock: when it last went back to the idle readers.</summary>
    public DateTimeOffset IdleSince { get; set; }

    /// <summary>A silo-local lease holds it: only its holder's thread may use it until it comes back.</summary>
    public bool HeldLocally { get; set; }

    /// <summary>Under the pool's lock: the pool closed without it (its silo-local lease outlived CloseTimeout); it is
    /// closed when it comes back.</summary>
    public bool Abandoned { get; set; }

    /// <summary>Set as an abandoned connection comes back: its close, which its holder waits for.</summary>
    public Task? Closed { get; set; }

    /// <summary>A prepared command kept with the connection (at most <see cref="StatementCache.Capacity"/>).</summary>
    public SqliteCommand PreparedCommand(string sql)
    {
        ArgumentNullException.ThrowIfNull(sql);
        if (ReferenceEquals(sql, _lastCommand?.CommandText))
        {
            // The same statement text again (a loop around one query): no lookup.
            return _lastCommand;
        }

        if (!_commands.TryGetValue(sql, out var command))
        {
            if (_commands.Count >= StatementCache.Capacity)
            {
                DisposeCommands();
            }

            command = Worker.ConnectionOrNull!.CreateCommand();
            command.CommandText = sql;
            _commands[sql] = command;
        }

        return _lastCommand = command;
    }

    /// <summary>
    /// On the holder's thread, as a lease ends (silo-local or not): makes the connection clean for its next holder,
    /// whatever this one left behind. No statement stays running (an ADO.NET data reader left open would pin its
    /// snapshot), no transaction stays open (ADO.NET's transaction object included, which would refuse the next holder's
    /// commands), and the writer gets the pool's hooks back (an ADO.NET transaction takes the rollback hook).
    /// </summary>
    /// <remarks>Most returns are already clean, which one native call (and, where a transaction may have been begun,
    /// a second) tells: a reader that never prepared BEGIN or SAVEPOINT cannot be in a transaction without reading.</remarks>
    public void ResetAfterLease(ChangeTracker? changes)
    {
        var connection = (PoolSqliteConnection)Worker.ConnectionOrNull!;
        var db = connection.Handle!;
        var mayHaveBegun = IsWriter || Worker.Policy is not { TransactionControlSeen: false };
        if (connection.OpenTransaction is not null
            || SqliteNative.TransactionState(db.DangerousGetHandle(), IntPtr.Zero) != SqliteNative.TransactionNone
            || (mayHaveBegun && raw.sqlite3_get_autocommit(db) == 0))
        {
            Clean(connection, db);
        }

        if (IsWriter && changes is not null)
        {
            changes.InstallHooks(db);
            changes.Settle(db);
        }
    }

    /// <summary>
    /// Past the close's limit, while a silo-local lease still holds the connection: takes it from its holder. Its running
    /// statement is interrupted; from then on every statement the holder prepares is refused and every one it steps stops
    /// at once. Its open transaction stays until the holder gives the connection back (which rolls it back and closes
    /// it); the lock file stays with it until then, so no other pool writes beside it.
    /// </summary>
    /// <remarks>Runs beside the holder's thread: the hooks are swapped holding the connection's own mutex, so no call of
    /// the holder's runs (or calls back) meanwhile, and the handle is referenced so that a close cannot free it.</remarks>
    public void Revoke()
    {
        if (Worker.ConnectionOrNull?.Handle is not { } db)
        {
            return;
        }

        var referenced = false;
        try
        {
            db.DangerousAddRef(ref referenced);
            raw.sqlite3_interrupt(db);
            var mutex = SqliteNative.ConnectionMutex(db.DangerousGetHandle());
            if (mutex == IntPtr.Zero)
            {
                return; // calls on it are not serialized: its hooks cannot be swapped safely
            }

            SqliteNative.EnterMutex(mutex);
            try
            {
                raw.sqlite3_progress_handler(db, 1, RevokedProgress, null);
                raw.sqlite3_set_authorizer(db, RevokedAuthorizer, null);
            }
            finally
            {
                SqliteNative.LeaveMutex(mutex);
            }
        }
        catch (ObjectDisposedException)
        {
            // Its holder gave it back and it closed meanwhile.
        }
        finally
        {
            if (referenced)
            {
                db.DangerousRelease();
            }
        }
    }

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

    private void Clean(PoolSqliteConnection connection, sqlite3 db)
    {
        var handle = db.DangerousGetHandle();
        var leftRunning = false;
        for (var stmt = SqliteNative.NextStatement(handle, IntPtr.Zero); stmt != IntPtr.Zero; stmt = SqliteNative.NextStatement(handle, stmt))
        {
            if (SqliteNative.StatementBusy(stmt) != 0)
            {
                SqliteNative.Reset(stmt);
                leftRunning = true;
            }
        }

        try
        {
            // Rolls back through ADO.NET, which then forgets the transaction.
            connection.OpenTransaction?.Dispose();
        }
        catch (SqliteException)
        {
            // SQL ended it behind ADO.NET's back ("COMMIT" in a command): ADO.NET forgets it all the same.
        }

        Reset(connection);
        if (leftRunning)
        {
            // A kept command whose data reader was left open would refuse to run again: disposing it closes the reader.
            DisposeCommands();
        }
    }

    private void DisposeCommands()
    {
        foreach (var command in _commands.Values)
        {
            command.Dispose();
        }

        _commands.Clear();
        _lastCommand = null;
    }
}
