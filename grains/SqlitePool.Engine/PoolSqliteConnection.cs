using Microsoft.Data.Sqlite;

namespace SqlitePool.Engine;

/// <summary>The pool's own connections. ADO.NET keeps the transaction object a holder began on the connection, and
/// refuses every later holder's commands while it is open; through this type the pool can end one left behind.</summary>
internal sealed class PoolSqliteConnection(string connectionString) : SqliteConnection(connectionString)
{
    /// <summary>The <see cref="SqliteTransaction"/> begun on the connection and not yet ended, if any.</summary>
    public SqliteTransaction? OpenTransaction => Transaction;
}
