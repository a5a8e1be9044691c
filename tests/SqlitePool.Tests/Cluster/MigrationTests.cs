using Microsoft.Data.Sqlite;

namespace SqlitePool.Tests.Cluster;

/// <summary>Schema migrations registered by path pattern run once as a database opens (see <see cref="ClusterFixture"/>).</summary>
[Collection(ClusterCollection.Name)]
public sealed class MigrationTests(ClusterFixture cluster)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_new_database_is_migrated_in_order_before_its_first_call_and_never_again()
    {
        var db = cluster.NewDatabase("migrated");

        await db.ExecuteAsync("INSERT INTO items(name, price) VALUES ('pen', 1.5)");

        Assert.Equal(3L, (await db.QueryAsync("PRAGMA user_version"))[0, 0]);
        Assert.Equal([2L, 3L], (await db.QueryAsync("SELECT version FROM runs ORDER BY version")).Values);
        await db.CloseAsync();
        Assert.Equal(1L, (await db.QueryAsync("SELECT count(*) FROM items"))[0, 0]);
        Assert.Equal(2L, (await db.QueryAsync("SELECT count(*) FROM runs"))[0, 0]);
    }

    [Fact]
    public async Task A_failing_migration_rolls_back_leaves_the_previous_version_and_every_caller_gets_the_error()
    {
        var db = cluster.NewDatabase("badmigration");

        var calls = await Task.WhenAll(Enumerable.Range(0, 5).Select(i => Capture(() => db.QueryAsync("SELECT 1"))));
        var again = await Capture(() => db.ExecuteAsync("CREATE TABLE mine(v)"));

        foreach (var error in calls.Append(again))
        {
            var failed = Assert.IsType<MigrationFailedException>(error);
            Assert.Equal((db.Id.GrainKey, 2, 1), (failed.Database, failed.Version, failed.CurrentVersion));
            Assert.Contains("no_such_table", failed.Message, StringComparison.Ordinal);
        }

        // The file, read directly: version 1 applied, nothing of 2 or 3.
        await using var file = new SqliteConnection($"Data Source={Path.Combine(cluster.DataRoot, db.Id.Path)};Mode=ReadOnly;Pooling=False");
        await file.OpenAsync(Ct);
        await using var command = file.CreateCommand();
        command.CommandText = "SELECT (SELECT user_version FROM pragma_user_version), group_concat(name) FROM sqlite_master";
        await using var reader = await command.ExecuteReaderAsync(Ct);
        Assert.True(await reader.ReadAsync(Ct));
        Assert.Equal((1L, "a"), (reader.GetInt64(0), reader.GetString(1)));
    }

    [Fact]
    public async Task Databases_outside_the_pattern_are_not_migrated()
    {
        var db = cluster.NewDatabase("plain");

        Assert.Equal(0L, (await db.QueryAsync("PRAGMA user_version"))[0, 0]);
        Assert.Empty((await db.QueryAsync("SELECT name FROM sqlite_master")).Values);
    }

    private static async Task<Exception?> Capture(Func<Task> call)
    {
        try
        {
            await call();
            return null;
        }
        catch (Exception ex)
        {
            return ex;
        }
    }
}
