using Microsoft.Data.Sqlite;
using SQLitePCL;

namespace SqlitePool.Engine;

/// <summary>A connection of the pool together with the worker thread that serves it.</summary>
internal sealed class PooledConnection(ConnectionWorker worker, bool isWriter)
{
    // Used only by the one holder of a ConnectionLease at a time.
    private readonly Dictionary<string, SqliteCommand> _commands = new(StringComparer.Ordinal);
    private SqliteCommand? _lastCommand;

    public ConnectionWorker Worker { get; } = worker;

    public bool IsWriter { get; } = isWriter;

    /// <summary>When it was last handed out (a <see cref="TimeProvider"/> timestamp; 0 when not measured).</summary>
    public long TakenAt { get; set; }

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
                foreach (var old in _commands.Values)
                {
                    old.Dispose();
                }

                _commands.Clear();
                _lastCommand = null;
            }

            command = Worker.ConnectionOrNull!.CreateCommand();
            command.CommandText = sql;
            _commands[sql] = command;
        }

        return _lastCommand = command;
    }

    /// <summary>After a silo-local lease: rolls back a transaction its holder left open. A reader that never
    /// prepared BEGIN or SAVEPOINT cannot be in one, which spares the native call on most returns. The writer is
    /// always checked: the open hook used it before the policy watched.</summary>
    public void ResetAfterLease()
    {
        if (IsWriter || Worker.Policy is not { TransactionControlSeen: false })
        {
            Reset(Worker.ConnectionOrNull!);
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
}
