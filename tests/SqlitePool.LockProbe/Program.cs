// A foreign process, as the sqlite3 shell or a backup tool would be: opens the database given as the first
// argument and tries once, without waiting, to take its write lock. Prints "busy" when another process holds it,
// "acquired" when it got it (then rolls back), or the SQLite error.
using Microsoft.Data.Sqlite;
using SQLitePCL;

if (args.Length != 1)
{
    Console.Error.WriteLine("usage: SqlitePool.LockProbe DATABASE");
    return 2;
}

using var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = args[0], Mode = SqliteOpenMode.ReadWrite, Pooling = false }.ConnectionString);
connection.Open();
var db = connection.Handle!;
raw.sqlite3_busy_timeout(db, 0);
var rc = raw.sqlite3_exec(db, "BEGIN IMMEDIATE");
if (rc == raw.SQLITE_OK)
{
    raw.sqlite3_exec(db, "ROLLBACK");
}

Console.WriteLine(rc switch
{
    raw.SQLITE_OK => "acquired",
    raw.SQLITE_BUSY => "busy",
    _ => $"error {rc}: {raw.sqlite3_errmsg(db).utf8_to_string()}",
});
return 0;
