using SqlitePool.Engine.Backup;
using SqlitePool.Hosting;

namespace SqlitePool.Tests.Backup;

/// <summary>Which databases a continuous backup covers: by path pattern, later entries winning, over the default.</summary>
public sealed class BackupOptionsTests
{
    [Fact]
    public void A_backup_applies_to_the_paths_its_pattern_matches_and_the_last_match_wins()
    {
        var options = new SqlitePoolOptions()
            .AddContinuousBackup("tenants/**", b => b.UseDirectory("/backup/tenants"))
            .AddContinuousBackup("tenants/vip/*.db", b => { b.UseDirectory("/backup/vip"); b.AckAfterBackup = true; });

        Assert.Null(options.ResolveFor("reports/q1.db").Backup);
        var tenant = options.ResolveFor("tenants/eu/acme.db").Backup!;
        Assert.Equal("/backup/tenants", ((DirectoryBackupTarget)tenant.Target!).Root);
        Assert.False(tenant.AckAfterBackup);
        var vip = options.ResolveFor("tenants/vip/bigco.db").Backup!;
        Assert.True(vip.AckAfterBackup);
        Assert.Equal("/backup/vip", ((DirectoryBackupTarget)vip.Target!).Root);

        // Each database gets its own copy: changing one changes no other.
        vip.Interval = TimeSpan.FromSeconds(9);
        Assert.Equal(BackupOptions.DefaultInterval, options.ResolveFor("tenants/vip/other.db").Backup!.Interval);
    }

    [Fact]
    public void The_default_backup_covers_every_database_a_pattern_does_not()
    {
        var options = new SqlitePoolOptions { Backup = new BackupOptions().UseDirectory("/backup/all") }
            .AddContinuousBackup("hot/**", b => b.UseDirectory("/backup/hot"));

        Assert.Equal("/backup/all", ((DirectoryBackupTarget)options.ResolveFor("a.db").Backup!.Target!).Root);
        Assert.Equal("/backup/hot", ((DirectoryBackupTarget)options.ResolveFor("hot/b.db").Backup!.Target!).Root);
    }
}
