namespace SqlitePool.Engine.Backup;

/// <summary>
/// Continuous backup of a database: every committed transaction is shipped to <see cref="Target"/> within
/// <see cref="Interval"/>, with a full snapshot when the chain starts and every <see cref="SnapshotInterval"/>, so that
/// the database can be restored as of any transaction or moment of the last <see cref="Retention"/>.
/// </summary>
public sealed class BackupOptions
{
    /// <summary>Default of <see cref="Interval"/>: 1 s.</summary>
    public static readonly TimeSpan DefaultInterval = TimeSpan.FromSeconds(1);

    /// <summary>Where the backup is stored.</summary>
    public IBackupTarget? Target { get; set; }

    /// <summary>The longest a committed transaction waits in memory before it is shipped (default 1 s): each stored
    /// segment holds the commits of at most this long.</summary>
    public TimeSpan Interval { get; set; } = DefaultInterval;

    /// <summary>How often a full snapshot starts the chain anew (default 1 h): a restore reads one snapshot and the
    /// segments after it.</summary>
    public TimeSpan SnapshotInterval { get; set; } = TimeSpan.FromHours(1);

    /// <summary>How far back a restore can go (default 7 days); objects that only older points need are deleted.</summary>
    public TimeSpan Retention { get; set; } = TimeSpan.FromDays(7);

    /// <summary>Answer a write only once its commit is stored in the target (default off): losing the disk then loses
    /// no acknowledged write. A write whose commit is not stored within <see cref="AckTimeout"/> fails with
    /// <see cref="BackupNotStoredException"/> (it committed on this node, but was not acknowledged).</summary>
    public bool AckAfterBackup { get; set; }

    /// <summary>How long an <see cref="AckAfterBackup"/> write waits for its commit to be stored (default 10 s).</summary>
    public TimeSpan AckTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>When the database's file is missing as it opens (the node was replaced), restore it from the latest
    /// stored position before any call is served (default off).</summary>
    public bool AutoRestore { get; set; }

    /// <summary>The most committed changes kept in memory while the target cannot be reached (default 256 MiB): past it
    /// they are merged (the latest image of each page), and when that is not enough, dropped; the chain then starts
    /// again with a snapshot once the target is back.</summary>
    public long MaxPendingBytes { get; set; } = 256L << 20;

    /// <summary>Stores the backup in a directory (a mounted volume, say): <see cref="DirectoryBackupTarget"/>.</summary>
    public BackupOptions UseDirectory(string path)
    {
        Target = new DirectoryBackupTarget(path);
        return this;
    }

    internal BackupOptions Copy() => (BackupOptions)MemberwiseClone();
}
