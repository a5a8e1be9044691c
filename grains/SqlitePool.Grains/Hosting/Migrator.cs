using Microsoft.Data.Sqlite;
using SqlitePool.Hosting;

namespace SqlitePool.Engine;

/// <summary>
/// Brings a database to the newest registered schema version as it opens, on its writer before any call is
/// served (so nothing else can touch it, and the one activation of a database runs it once). Each migration
/// newer than <c>PRAGMA user_version</c> runs in a transaction of its own that also sets the new version;
/// its SQL must not control transactions itself.
/// </summary>
internal static class Migrator
{
    /// <returns>How many migrations ran.</returns>
    /// <exception cref="MigrationFailedException">A migration failed; it was rolled back and later ones did not run.</exception>
    public static int Apply(SqliteConnection connection, string database, IReadOnlyList<Migration> migrations)
    {
        var current = Convert.ToInt32(Scalar(connection, "PRAGMA user_version"), System.Globalization.CultureInfo.InvariantCulture);
        var applied = 0;
        foreach (var migration in migrations.Where(m => m.Version > current).OrderBy(m => m.Version))
        {
            try
            {
                Execute(connection, "BEGIN IMMEDIATE");
                Execute(connection, migration.Sql);
                Execute(connection, $"PRAGMA user_version = {migration.Version}; COMMIT");
            }
            catch (SqliteException ex)
            {
                // Some errors end the transaction themselves; whatever is left is undone.
                if (SQLitePCL.raw.sqlite3_get_autocommit(connection.Handle) == 0)
                {
                    SQLitePCL.raw.sqlite3_exec(connection.Handle, "ROLLBACK");
                }

                throw new MigrationFailedException(database, migration.Version, current, ex.Message);
            }

            current = migration.Version;
            applied++;
        }

        return applied;
    }

    /// <summary>The migrations registered for a path, in version order.</summary>
    /// <exception cref="MigrationFailedException">Two registered migrations share a version.</exception>
    public static IReadOnlyList<Migration> For(IEnumerable<DatabaseMigrations> registered, string database, string path)
    {
        var steps = registered.Where(r => DatabaseOverride.GlobMatches(r.Pattern, path)).SelectMany(r => r.Steps).OrderBy(m => m.Version).ToList();
        if (steps.GroupBy(m => m.Version).FirstOrDefault(g => g.Count() > 1) is { } twice)
        {
            throw new MigrationFailedException(database, twice.Key, 0, "two registered migrations have this version");
        }

        return steps;
    }

    private static void Execute(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    private static object? Scalar(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        return command.ExecuteScalar();
    }
}
