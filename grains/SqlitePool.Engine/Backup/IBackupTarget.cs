namespace SqlitePool.Engine.Backup;

/// <summary>
/// Where backups are stored: a flat space of objects named by keys (<c>/</c>-separated, as blob names are), written
/// whole and never changed in place.
/// </summary>
public interface IBackupTarget
{
    /// <summary>Stores <paramref name="content"/> under <paramref name="key"/>, replacing what was there; once the task
    /// completes the object is durable in the target and reads return all of it.</summary>
    Task PutAsync(string key, ReadOnlyMemory<byte> content, CancellationToken cancellationToken = default);

    /// <summary>The content stored under <paramref name="key"/>, or null when there is none.</summary>
    Task<byte[]?> GetAsync(string key, CancellationToken cancellationToken = default);

    /// <summary>The keys that start with <paramref name="prefix"/>, in ordinal order.</summary>
    Task<IReadOnlyList<string>> ListAsync(string prefix, CancellationToken cancellationToken = default);

    /// <summary>Deletes the object under <paramref name="key"/>; nothing happens when there is none.</summary>
    Task DeleteAsync(string key, CancellationToken cancellationToken = default);
}
