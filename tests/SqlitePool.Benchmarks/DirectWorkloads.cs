using Microsoft.Data.Sqlite;

namespace SqlitePool.Benchmarks;

/// <summary>
/// Point SELECTs by primary key straight on Microsoft.Data.Sqlite, each thread on its own connection and prepared
/// command. The connections stay open across the slices of a comparison, as an application's would: a fresh
/// connection starts with an empty page cache, which would slow every slice's start.
/// </summary>
internal sealed class DirectPointSelects : IDisposable
{
    private readonly (SqliteConnection Connection, SqliteCommand Command, SqliteParameter Id)[] _threads;

    public DirectPointSelects(string path, int threads)
    {
        _threads = [.. Enumerable.Range(0, threads).Select(_ =>
        {
            var connection = Direct.Open(path);
            var command = connection.CreateCommand();
            command.CommandText = Direct.PointSelect;
            var id = command.Parameters.Add("$id", SqliteType.Integer);
            command.Prepare();
            return (connection, command, id);
        })];
    }

    /// <summary>Operations per second of every thread querying for <paramref name="duration"/>.</summary>
    public double Run(TimeSpan duration) => Measure.ThroughputOnThreads(_threads.Length, duration, Query);

    /// <summary>One point SELECT of thread <paramref name="thread"/>, by its operation number.</summary>
    public Action<long> Query(int thread)
    {
        var (_, command, id) = _threads[thread];
        return i => Direct.ReadPoint(command, id, i % Settings.Rows + 1);
    }

    public void Dispose()
    {
        foreach (var (connection, command, _) in _threads)
        {
            command.Dispose();
            connection.Dispose();
        }
    }
}

/// <summary>Autocommit single-row INSERTs on one connection, kept open across slices.</summary>
internal sealed class DirectInserts : IDisposable
{
    private readonly SqliteConnection _connection;
    private readonly SqliteCommand _insert;

    public DirectInserts(string path, string synchronous)
    {
        _connection = Direct.Open(path, synchronous);
        using (var create = _connection.CreateCommand())
        {
            create.CommandText = "CREATE TABLE IF NOT EXISTS w(id INTEGER PRIMARY KEY, v TEXT NOT NULL)";
            create.ExecuteNonQuery();
        }

        _insert = _connection.CreateCommand();
        _insert.CommandText = "INSERT INTO w(v) VALUES ($v)";
        _insert.Parameters.Add("$v", SqliteType.Text).Value = "value";
        _insert.Prepare();
    }

    /// <summary>Inserts per second on one thread for <paramref name="duration"/>.</summary>
    public double Run(TimeSpan duration) => Measure.ThroughputOnThreads(1, duration, _ => _ => _insert.ExecuteNonQuery());

    public void Dispose()
    {
        _insert.Dispose();
        _connection.Dispose();
    }
}
