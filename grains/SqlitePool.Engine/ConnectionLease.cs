using Microsoft.Data.Sqlite;

namespace SqlitePool.Engine;

/// <summary>
/// A pool connection handed to code on the owning silo to use synchronously on its own thread: the real
/// <see cref="SqliteConnection"/> (usable with Dapper and friends), under the same arbitration as every other
/// caller. Dispose it promptly: an open transaction is rolled back and the connection goes back to the pool.
/// </summary>
/// <remarks>A reader is <c>query_only</c> and runs in autocommit (each statement sees the latest commit); the
/// statement policy of the pool applies. Use it from one thread at a time, and never keep it across awaits
/// on an Orleans turn: while you hold it, others wait for it.</remarks>
public sealed class ConnectionLease : IDisposable
{
    private readonly DatabasePool _pool;
    private readonly PooledConnection _connection;
    private int _disposed;

    internal ConnectionLease(DatabasePool pool, PooledConnection connection, LeaseKind kind)
    {
        _pool = pool;
        _connection = connection;
        Kind = kind;
        Connection = connection.Worker.ConnectionOrNull!;
    }

    /// <summary>What the lease holds: <see cref="LeaseKind.Reader"/> or <see cref="LeaseKind.Writer"/>.</summary>
    public LeaseKind Kind { get; }

    /// <summary>The leased connection. Do not close it or keep it after <see cref="Dispose"/>.</summary>
    public SqliteConnection Connection { get; }

    /// <summary>A command for <paramref name="sql"/> kept with this connection across leases (prepared on first
    /// execution): add its parameters once, then set their values and execute it. Do not dispose it.</summary>
    public SqliteCommand Prepare(string sql)
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        return _connection.PreparedCommand(sql);
    }

    /// <summary>Rolls back what was left open and gives the connection back.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            _pool.ReturnLocal(_connection, Kind);
        }
    }
}
