using SqlitePool.Engine;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using Orleans.Runtime;

namespace SqlitePool.Hosting;

/// <summary>Checks <see cref="SqlitePoolOptions"/> when the silo starts; the message names the bad setting.</summary>
internal sealed class SqlitePoolOptionsValidator(IOptions<SqlitePoolOptions> options, IOptions<SiloOptions> silo) : IConfigurationValidator
{
    private static readonly string[] SynchronousLevels = ["OFF", "NORMAL", "FULL", "EXTRA"];

    public void ValidateConfiguration()
    {
        var o = options.Value;
        Require(!string.IsNullOrWhiteSpace(o.DataRoot) && !o.DataRoot.Contains('\0', StringComparison.Ordinal), "DataRoot", o.DataRoot, "a directory path");
        try
        {
            _ = new DatabaseId(NodeName(o), "probe.db");
        }
        catch (InvalidDatabasePathException ex)
        {
            Fail("NodeName", NodeName(o), ex.Reason);
        }

        Require(o.SchedulerMinThreads >= 1, "SchedulerMinThreads", o.SchedulerMinThreads, "1 or more");
        Require(o.SchedulerMaxThreads >= o.SchedulerMinThreads, "SchedulerMaxThreads", o.SchedulerMaxThreads, $"at least SchedulerMinThreads ({o.SchedulerMinThreads})");
        Require(o.MaxOpenFiles == 0 || o.MaxOpenFiles >= OpenFileBudget.PerDatabase, "MaxOpenFiles", o.MaxOpenFiles, $"0 (three quarters of the process's limit) or {OpenFileBudget.PerDatabase} and more");
        Require(o.SqliteSoftHeapLimitBytes >= 0, "SqliteSoftHeapLimitBytes", o.SqliteSoftHeapLimitBytes, "0 (none) or more");
        Require(o.HolderCheckInterval > TimeSpan.Zero && o.HolderCheckInterval.TotalMilliseconds <= int.MaxValue, "HolderCheckInterval", o.HolderCheckInterval, "more than zero, under 24 days");
        Require(o.HealthCheckTimeout > TimeSpan.Zero && o.HealthCheckTimeout.TotalMilliseconds <= int.MaxValue, "HealthCheckTimeout", o.HealthCheckTimeout, "more than zero, under 24 days");
        Require(o.ChangeNotificationInterval >= TimeSpan.FromMilliseconds(1) && o.ChangeNotificationInterval.TotalMilliseconds <= int.MaxValue, "ChangeNotificationInterval", o.ChangeNotificationInterval, "1 ms or more, under 24 days");
        Require(o.HealthWalLimitBytes > 0, "HealthWalLimitBytes", o.HealthWalLimitBytes, "more than zero");
        for (var i = 0; i < o.Migrations.Count; i++)
        {
            var (pattern, steps) = (o.Migrations[i].Pattern, o.Migrations[i].Steps);
            Require(!string.IsNullOrWhiteSpace(pattern), $"Migrations[{i}]:Pattern", pattern, "a glob over database paths such as 'orders/**'");
            foreach (var step in steps)
            {
                Require(step.Version >= 1, $"Migrations[{i}]:Version", step.Version, "1 or more");
                Require(!string.IsNullOrWhiteSpace(step.Sql), $"Migrations[{i}]:{step.Version}:Sql", step.Sql, "SQL text");
            }

            var twice = steps.GroupBy(s => s.Version).FirstOrDefault(g => g.Count() > 1)?.Key;
            Require(twice is null, $"Migrations[{i}]:Version", twice, "each version once");
        }

        Validate(o, "");
        if (o.Backup is { } backup)
        {
            ValidateBackup(backup, "Backup:", needsTarget: false);
        }

        for (var i = 0; i < o.Backups.Count; i++)
        {
            Require(!string.IsNullOrWhiteSpace(o.Backups[i].Pattern), $"Backups[{i}]:Pattern", o.Backups[i].Pattern, "a glob over database paths such as 'tenants/**'");
            ValidateBackup(o.Backups[i].Options, $"Backups[{i}]:", needsTarget: true);
        }

        for (var i = 0; i < o.Databases.Count; i++)
        {
            var entry = o.Databases[i];
            var prefix = $"Databases[{i}]:";
            Require(!string.IsNullOrWhiteSpace(entry.Pattern), prefix + "Pattern", entry.Pattern, "a glob over database paths such as 'reports/**'");
            var resolved = o.CopyDatabaseOptions();
            entry.ApplyTo(resolved);
            Validate(resolved, prefix);
        }
    }

    private static void ValidateBackup(SqlitePool.Engine.Backup.BackupOptions b, string prefix, bool needsTarget)
    {
        Require(!needsTarget || b.Target is not null, prefix + "Target", b.Target, "a target: UseDirectory(path) or UseAzureBlobs(connectionString, container)");
        Require(b.Target is not null || !(b.AckAfterBackup || b.AutoRestore), prefix + "Target", b.Target, "a target (Directory or AzureConnectionString) for AckAfterBackup and AutoRestore");
        Require(b.Interval > TimeSpan.Zero && b.Interval.TotalMilliseconds <= int.MaxValue, prefix + "Interval", b.Interval, "more than zero, under 24 days");
        Require(b.SnapshotInterval > TimeSpan.Zero, prefix + "SnapshotInterval", b.SnapshotInterval, "more than zero");
        Require(b.Retention > TimeSpan.Zero, prefix + "Retention", b.Retention, "more than zero");
        Require(b.AckTimeout > TimeSpan.Zero && b.AckTimeout.TotalMilliseconds <= int.MaxValue, prefix + "AckTimeout", b.AckTimeout, "more than zero, under 24 days");
        Require(b.MaxPendingBytes > 0, prefix + "MaxPendingBytes", b.MaxPendingBytes, "more than zero");
    }

    private string NodeName(SqlitePoolOptions o) => string.IsNullOrEmpty(o.NodeName) ? silo.Value.SiloName : o.NodeName;

    private static void Validate(DatabaseOptions o, string prefix)
    {
        Require(o.MaxReaders is >= 1 and <= 64, prefix + "MaxReaders", o.MaxReaders, "1 to 64");
        Require(string.Equals(o.JournalMode, "WAL", StringComparison.OrdinalIgnoreCase), prefix + "JournalMode", o.JournalMode, "WAL (readers run beside the writer only in WAL mode)");
        Require(SynchronousLevels.Contains(o.Synchronous, StringComparer.OrdinalIgnoreCase), prefix + "Synchronous", o.Synchronous, "OFF, NORMAL, FULL or EXTRA");
        Require(o.BusyTimeout >= TimeSpan.Zero && o.BusyTimeout.TotalMilliseconds <= int.MaxValue, prefix + "BusyTimeout", o.BusyTimeout, "zero or more, under 24 days");
        Require(o.LeaseIdleTimeout > TimeSpan.Zero, prefix + "LeaseIdleTimeout", o.LeaseIdleTimeout, "more than zero");
        Require(o.MaxLeaseHoldTime > TimeSpan.Zero, prefix + "MaxLeaseHoldTime", o.MaxLeaseHoldTime, "more than zero");
        Require(o.StatementTimeout > TimeSpan.Zero, prefix + "StatementTimeout", o.StatementTimeout, "more than zero");
        Require(o.AcquireTimeout > TimeSpan.Zero, prefix + "AcquireTimeout", o.AcquireTimeout, "more than zero");
        Require(o.WriterQueueCapacity >= 1, prefix + "WriterQueueCapacity", o.WriterQueueCapacity, "1 or more");
        Require(o.ReaderQueueCapacity >= 1, prefix + "ReaderQueueCapacity", o.ReaderQueueCapacity, "1 or more");
        Require(o.WalLimitBytes >= 1 << 16, prefix + "WalLimitBytes", o.WalLimitBytes, "64 KiB or more");
        Require(o.MaxReaderSnapshotAge > TimeSpan.Zero, prefix + "MaxReaderSnapshotAge", o.MaxReaderSnapshotAge, "more than zero");
        Require(o.ReaderIdleTimeout > TimeSpan.Zero && o.ReaderIdleTimeout <= TimeSpan.FromDays(365), prefix + "ReaderIdleTimeout", o.ReaderIdleTimeout, "more than zero, at most 365 days");
        Require((o.DatabaseIdleTimeout > TimeSpan.Zero && o.DatabaseIdleTimeout <= TimeSpan.FromDays(365)) || o.DatabaseIdleTimeout == Timeout.InfiniteTimeSpan, prefix + "DatabaseIdleTimeout", o.DatabaseIdleTimeout, "more than zero and at most 365 days, or -00:00:00.001 (infinite) to keep databases open");
        Require(o.CallerThreadReadLimit >= TimeSpan.Zero && o.CallerThreadReadLimit <= TimeSpan.FromSeconds(1), prefix + "CallerThreadReadLimit", o.CallerThreadReadLimit, "zero (reads always on the scheduler) to 1 s");
        Require(o.CacheSizeKiB >= 64, prefix + "CacheSizeKiB", o.CacheSizeKiB, "64 or more");
        Require(o.CheckpointInterval >= TimeSpan.FromMilliseconds(10) && o.CheckpointInterval.TotalMilliseconds <= int.MaxValue, prefix + "CheckpointInterval", o.CheckpointInterval, "10 ms or more, under 24 days");
    }

    private static void Require(bool ok, string setting, object? value, string expected)
    {
        if (!ok)
        {
            Fail(setting, value, expected);
        }
    }

    private static void Fail(string setting, object? value, string expected) =>
        throw new OrleansConfigurationException($"{SqlitePoolOptions.SectionName}:{setting} is '{value}'; expected {expected}.");
}
