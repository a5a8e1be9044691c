using Microsoft.Data.Sqlite;

namespace SqlitePool.Benchmarks;

/// <summary>The baselines: Microsoft.Data.Sqlite used directly on the same files, with prepared commands.</summary>
internal static class Direct
{
    public const string PointSelect = "SELECT id, a, b, c FROM t WHERE id = $id";
    public const string ResultSelect = "SELECT id, a, b, c FROM t WHERE id <= $n";
    public const string StreamSelect = "SELECT id, a, b, c FROM t";

    public static SqliteConnection Open(string path, string synchronous = "FULL")
    {
        var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Pooling = false }.ToString());
        connection.Open();
        using var pragmas = connection.CreateCommand();
        pragmas.CommandText = $"PRAGMA journal_mode = WAL; PRAGMA synchronous = {synchronous};";
        pragmas.ExecuteNonQuery();
        return connection;
    }

    /// <summary>Creates the 100k-row table the reads use.</summary>
    public static void Seed(string path, int rows)
    {
        using var connection = Open(path);
        using var transaction = connection.BeginTransaction();
        using var create = connection.CreateCommand();
        create.CommandText = "CREATE TABLE t(id INTEGER PRIMARY KEY, a INTEGER NOT NULL, b REAL NOT NULL, c TEXT NOT NULL)";
        create.ExecuteNonQuery();
        using var insert = connection.CreateCommand();
        insert.CommandText = "INSERT INTO t(id, a, b, c) VALUES ($id, $a, $b, $c)";
        var (id, a, b, c) = (insert.Parameters.Add("$id", SqliteType.Integer), insert.Parameters.Add("$a", SqliteType.Integer),
            insert.Parameters.Add("$b", SqliteType.Real), insert.Parameters.Add("$c", SqliteType.Text));
        for (var i = 1; i <= rows; i++)
        {
            (id.Value, a.Value, b.Value, c.Value) = (i, i * 7L, i / 3.0, $"row {i} of the benchmark table");
            insert.ExecuteNonQuery();
        }

        transaction.Commit();
    }

    /// <summary>Runs one prepared point SELECT and reads its four columns.</summary>
    public static void ReadPoint(SqliteCommand command, SqliteParameter id, long value)
    {
        id.Value = value;
        using var reader = command.ExecuteReader();
        reader.Read();
        _ = (reader.GetInt64(0), reader.GetInt64(1), reader.GetDouble(2), reader.GetString(3));
    }

    /// <summary>Rows per second reading every row of the table, values into locals.</summary>
    public static double ReadAll(string path)
    {
        using var connection = Open(path);
        using var command = connection.CreateCommand();
        command.CommandText = StreamSelect;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        long rows = 0;
        using var reader = command.ExecuteReader();
        while (reader.Read())
        {
            _ = (reader.GetInt64(0), reader.GetInt64(1), reader.GetDouble(2), reader.GetString(3));
            rows++;
        }

        return rows / clock.Elapsed.TotalSeconds;
    }

    /// <summary>Reads <paramref name="rows"/> rows × 4 columns into the result type the grain returns.</summary>
    public static QueryResult ReadRows(SqliteConnection connection, int rows)
    {
        using var command = connection.CreateCommand();
        command.CommandText = ResultSelect;
        command.Parameters.AddWithValue("$n", rows);
        using var reader = command.ExecuteReader();
        var values = new List<object?>(rows * 4);
        while (reader.Read())
        {
            values.Add(reader.GetInt64(0));
            values.Add(reader.GetInt64(1));
            values.Add(reader.GetDouble(2));
            values.Add(reader.GetString(3));
        }

        return new QueryResult(["id", "a", "b", "c"], values.ToArray());
    }
}
