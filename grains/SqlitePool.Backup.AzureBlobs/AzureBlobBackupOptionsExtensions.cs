namespace SqlitePool.Engine.Backup;

/// <summary>Azure Blob Storage as the target of a continuous backup.</summary>
public static class AzureBlobBackupOptionsExtensions
{
    /// <summary>Stores the backup in container <paramref name="container"/> (created when missing) of the account
    /// <paramref name="connectionString"/> names: <see cref="AzureBlobBackupTarget"/>.</summary>
    public static BackupOptions UseAzureBlobs(this BackupOptions options, string connectionString, string container)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Target = new AzureBlobBackupTarget(connectionString, container);
        return options;
    }
}
