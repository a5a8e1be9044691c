using Microsoft.Data.Sqlite;

namespace SqlitePool.Hosting;

/// <summary>What <c>SqlitePoolOptions.OnDatabaseOpened</c> (or the pool's open hook) receives.</summary>
/// <param name="Database">The database's grain key (<c>node/path</c>).</param>
/// <param name="Path">The full path of the file.</param>
/// <param name="Connection">The writer connection, open, with the pool's pragmas applied; use it synchronously.</param>
public sealed record DatabaseOpenContext(string Database, string Path, SqliteConnection Connection);
