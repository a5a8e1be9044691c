using Microsoft.Data.Sqlite;

namespace SqlitePool.Benchmarks;

/// <summary>
/// The tenant baseline: plain Microsoft.Data.Sqlite as an application without the pool would use it. A new
/// connection is opened and closed per operation, on the default connection string (Pooling=True: Microsoft.Data.Sqlite
/// keeps each file's connections open underneath); WAL is set when a file is created; synchronous is the default.
/// Where the process may not open enough files for a pooled connection to every database, as such an application
/// would have to, it turns pooling off (<paramref name="pooled"/> false): each operation opens and closes its file.
/// </summary>
internal sealed class PlainTenants : ITenantSide
{
    private readonly string[] _connectionStrings;

    public PlainTenants(string directory, int databases, bool pooled = true)
    {
        Pooled = pooled;
        Directory.CreateDirectory(Path.Combine(directory, "tenants"));
        _connectionStrings = [.. Enumerable.Range(0, databases).Select(i =>
            new SqliteConnectionStringBuilder { DataSource = Path.Combine(directory, "tenants", $"t{i}.db"), Pooling = pooled }.ToString())];
    }

    public bool Blocking => true;

    /// <summary>Whether Microsoft.Data.Sqlite pools the connections.</summary>
    public bool Pooled { get; }

    /// <summary>Pooled, each database keeps a connection once used; unpooled, none stays open.</summary>
    public int OpenDatabases => Pooled ? _connectionStrings.Length : 0;

    public Task CreateAsync(int database)
    {
        using var connection = Open(database);
        using var command = connection.CreateCommand();
        command.CommandText = "PRAGMA journal_mode = WAL";
        command.ExecuteNonQuery();
        command.CommandText = TenantWorkload.Create;
        command.ExecuteNonQuery();
        Insert(connection);
        return Task.CompletedTask;
    }

    public Task ReadAsync(int database, long id)
    {
        using var connection = Open(database);
        using var command = connection.CreateCommand();
        command.CommandText = TenantWorkload.Select;
        command.Parameters.AddWithValue("$id", id);
        using var reader = command.ExecuteReader();
        if (!reader.Read())
        {
            throw new InvalidOperationException($"Row {id} of t{database}.db is missing.");
        }

        _ = (reader.GetInt64(0), reader.GetString(1));
        return Task.CompletedTask;
    }

    public Task InsertAsync(int database)
    {
        using var connection = Open(database);
        Insert(connection);
        return Task.CompletedTask;
    }

    public Task StopAsync()
    {
        SqliteConnection.ClearAllPools();
        return Task.CompletedTask;
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private SqliteConnection Open(int database)
    {
        var connection = new SqliteConnection(_connectionStrings[database]);
        connection.Open();
        return connection;
    }

    private static void Insert(SqliteConnection connection)
    {
        using var command = connection.CreateCommand();
        command.CommandText = TenantWorkload.Insert;
        command.Parameters.AddWithValue("$v", TenantWorkload.Value);
        command.ExecuteNonQuery();
    }
}
