using Orleans.TestingHost;
using SqlitePool.Engine.Backup;
using SqlitePool.Hosting;

namespace SqlitePool.Tests.Cluster;

/// <summary>Bad settings stop the silo at start with a message that names the setting.</summary>
public sealed class OptionsValidationTests
{
    public static TheoryData<string, string> BadSettings => new()
    {
        { "MaxReaders", "SqlitePool:MaxReaders is '0'" },
        { "Synchronous", "SqlitePool:Synchronous is 'SOMETIMES'" },
        { "JournalMode", "SqlitePool:JournalMode is 'DELETE'" },
        { "AcquireTimeout", "SqlitePool:AcquireTimeout is '00:00:00'" },
        { "NodeName", "SqlitePool:NodeName is 'bad node'" },
        { "HolderCheckInterval", "SqlitePool:HolderCheckInterval is '-00:00:01'" },
        { "Override", "SqlitePool:Databases[0]:WriterQueueCapacity is '0'" },
        { "Pattern", "SqlitePool:Databases[0]:Pattern is ''" },
        { "HealthCheckTimeout", "SqlitePool:HealthCheckTimeout is '00:00:00'" },
        { "MigrationVersion", "SqlitePool:Migrations[0]:Version is '2'" },
        { "BackupInterval", "SqlitePool:Backups[0]:Interval is '00:00:00'" },
        { "BackupTarget", "SqlitePool:Backups[0]:Target is ''" },
    };

    [Theory]
    [MemberData(nameof(BadSettings))]
    public async Task A_bad_setting_stops_the_silo_with_a_message_naming_it(string setting, string message)
    {
        var builder = new InProcessTestClusterBuilder(1);
        builder.ConfigureSilo((_, silo) => silo.AddSqlitePool(o => Break(o, setting)));
        await using var cluster = builder.Build();

        var error = await Assert.ThrowsAnyAsync<Exception>(() => cluster.DeployAsync(TestContext.Current.CancellationToken));

        Assert.Contains(message, Flatten(error), StringComparison.Ordinal);
    }

    private static void Break(SqlitePoolOptions o, string setting)
    {
        switch (setting)
        {
            case "MaxReaders": o.MaxReaders = 0; break;
            case "Synchronous": o.Synchronous = "SOMETIMES"; break;
            case "JournalMode": o.JournalMode = "DELETE"; break;
            case "AcquireTimeout": o.AcquireTimeout = TimeSpan.Zero; break;
            case "NodeName": o.NodeName = "bad node"; break;
            case "HolderCheckInterval": o.HolderCheckInterval = TimeSpan.FromSeconds(-1); break;
            case "Override": o.Databases.Add(new DatabaseOverride { Pattern = "x/**", WriterQueueCapacity = 0 }); break;
            case "HealthCheckTimeout": o.HealthCheckTimeout = TimeSpan.Zero; break;
            case "MigrationVersion": o.AddMigrations("x/**", new Migration(2, "CREATE TABLE a(x)"), new Migration(2, "CREATE TABLE b(x)")); break;
            case "BackupInterval": o.AddContinuousBackup("x/**", b => b.UseDirectory("backup").Interval = TimeSpan.Zero); break;
            case "BackupTarget": o.AddContinuousBackup("x/**", _ => { }); break;
            default: o.Databases.Add(new DatabaseOverride()); break;
        }
    }

    private static string Flatten(Exception error) =>
        error is AggregateException aggregate ? string.Join('\n', aggregate.InnerExceptions.Select(Flatten)) : error.Message + "\n" + (error.InnerException is { } inner ? Flatten(inner) : "");
}
