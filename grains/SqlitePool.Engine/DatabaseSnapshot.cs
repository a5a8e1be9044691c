using Microsoft.Data.Sqlite;

namespace SqlitePool.Engine;

/// <summary>
/// Consistent copies of a database file while the pool keeps serving: <c>VACUUM INTO</c> on a connection of its
/// own reads one snapshot (writers go on; the copy holds exactly what was committed when it began), and a copy
/// received from elsewhere is checked before it is put in place. Each runs as work of its own on the scheduler.
/// </summary>
internal static class DatabaseSnapshot
{
    /// <summary>Writes a copy of <paramref name="source"/> to a new file beside it and returns that file's path.</summary>
    public static async Task<string> TakeAsync(string source, string database, CancellationToken cancellationToken)
    {
        var target = $"{source}.snapshot-{Guid.NewGuid():N}";
        using var worker = new ConnectionWorker($"sqlite snapshot {database}");
        try
        {
            await worker.RunAsync(_ =>
            {
                using var connection = Open(source, SqliteOpenMode.ReadOnly);
                using var command = connection.CreateCommand();
                command.CommandText = "VACUUM INTO $target";
                command.Parameters.AddWithValue("$target", target);
                command.ExecuteNonQuery();
                return true;
            }, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            File.Delete(target);
            throw;
        }

        return target;
    }

    /// <summary>Runs <c>PRAGMA integrity_check</c> on a file that no pool has open.</summary>
    /// <exception cref="InvalidDataException">The file is not a sound SQLite database.</exception>
    public static async Task CheckAsync(string file, string database, CancellationToken cancellationToken)
    {
        using var worker = new ConnectionWorker($"sqlite check {database}");
        var verdict = await worker.RunAsync(_ =>
        {
            try
            {
                using var connection = Open(file, SqliteOpenMode.ReadOnly);
                using var command = connection.CreateCommand();
                command.CommandText = "PRAGMA integrity_check";
                return command.ExecuteScalar() as string;
            }
            catch (SqliteException ex)
            {
                return ex.Message;
            }
        }, cancellationToken).ConfigureAwait(false);
        if (verdict != "ok")
        {
            throw new InvalidDataException($"The copy of '{database}' failed its integrity check: {verdict}");
        }
    }

    private static SqliteConnection Open(string path, SqliteOpenMode mode)
    {
        var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Mode = mode, Pooling = false }.ConnectionString);
        connection.Open();
        return connection;
    }
}
