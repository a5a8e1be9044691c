using System.Globalization;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using SqlitePool.Engine.Backup;
using SqlitePool.Hosting;

namespace SqlitePool.Silo;

/// <summary>Continuous backup of every database of the silo, from the section <c>SqlitePool:Backup</c> and its switches:
/// a target (<c>Directory</c>, or <c>AzureConnectionString</c> with <c>Container</c>), <c>IntervalSeconds</c>, and the
/// <see cref="BackupOptions"/> bound by name (<c>AckAfterBackup</c>, <c>AutoRestore</c>, <c>SnapshotInterval</c>, <c>Retention</c>...).</summary>
internal static class SiloBackup
{
    public const string SectionName = "SqlitePool:Backup";

    /// <summary>The backup switches, added to <see cref="SiloSettings.SwitchMappings"/>.</summary>
    public static readonly Dictionary<string, string> SwitchMappings = new(StringComparer.OrdinalIgnoreCase)
    {
        ["--backup-dir"] = $"{SectionName}:Directory",
        ["--backup-azure"] = $"{SectionName}:AzureConnectionString",
        ["--backup-container"] = $"{SectionName}:Container",
        ["--backup-interval"] = $"{SectionName}:IntervalSeconds",
        ["--ack-after-backup"] = $"{SectionName}:AckAfterBackup",
        ["--auto-restore"] = $"{SectionName}:AutoRestore",
    };

    private static readonly string[] Flags = ["--ack-after-backup", "--auto-restore"];

    /// <summary>The arguments with a value after each bare on/off switch (<c>--auto-restore</c> means
    /// <c>--auto-restore true</c>): the command-line configuration reads every switch as a key and a value.</summary>
    public static string[] ExpandFlags(string[] args)
    {
        var expanded = new List<string>(args.Length + Flags.Length);
        for (var i = 0; i < args.Length; i++)
        {
            expanded.Add(args[i]);
            if (Flags.Contains(args[i], StringComparer.OrdinalIgnoreCase)
                && (i + 1 == args.Length || !bool.TryParse(args[i + 1], out _)))
            {
                expanded.Add("true");
            }
        }

        return [.. expanded];
    }

    /// <summary>Sets the default backup of every database from configuration, when it names a target.</summary>
    /// <exception cref="InvalidOperationException">The settings ask for backup behaviour but name no target, or two.</exception>
    public static void Configure(IServiceCollection services, IConfiguration configuration)
    {
        var section = configuration.GetSection(SectionName);
        var directory = NullIfEmpty(section["Directory"]);
        var azure = NullIfEmpty(section["AzureConnectionString"]);
        if (directory is not null && azure is not null)
        {
            throw new InvalidOperationException("Give one backup target: --backup-dir or --backup-azure (SqlitePool:Backup:Directory or :AzureConnectionString), not both.");
        }

        if (directory is null && azure is null)
        {
            if (section.GetValue("AckAfterBackup", false) || section.GetValue("AutoRestore", false) || section["IntervalSeconds"] is not null)
            {
                throw new InvalidOperationException("--ack-after-backup, --auto-restore and --backup-interval need a backup target: --backup-dir DIR or --backup-azure CONNECTION_STRING.");
            }

            return;
        }

        var interval = section["IntervalSeconds"] is { } seconds ? TimeSpan.FromSeconds(double.Parse(seconds, CultureInfo.InvariantCulture)) : (TimeSpan?)null;
        if (interval is { } given && given <= TimeSpan.Zero)
        {
            throw new InvalidOperationException("--backup-interval must be more than 0 seconds.");
        }

        var container = NullIfEmpty(section["Container"]) ?? "sqlitepool-backup";
        services.PostConfigure<SqlitePoolOptions>(options =>
        {
            options.Backup ??= new BackupOptions();
            if (directory is not null)
            {
                options.Backup.UseDirectory(Path.GetFullPath(directory));
            }
            else
            {
                options.Backup.UseAzureBlobs(azure!, container);
            }

            options.Backup.Interval = interval ?? options.Backup.Interval;
        });
    }

    private static string? NullIfEmpty(string? value) => string.IsNullOrWhiteSpace(value) ? null : value;
}
