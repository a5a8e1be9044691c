using System.Runtime.InteropServices;

namespace SqlitePool.Engine.Backup;

/// <summary>
/// A backup target in a directory (a mounted volume): each object a file under the root at its key's path. An object
/// is written to a temporary file beside it, synced, renamed into place and its directory synced, so a crash leaves
/// either the whole old object or the whole new one, and a completed put survives power loss.
/// </summary>
public sealed partial class DirectoryBackupTarget : IBackupTarget
{
    private const string TemporarySuffix = ".partial";

    /// <summary>A target that stores objects under <paramref name="root"/> (created when missing).</summary>
    public DirectoryBackupTarget(string root)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(root);
        Root = Path.GetFullPath(root);
    }

    /// <summary>The directory the objects are under.</summary>
    public string Root { get; }

    /// <inheritdoc/>
    public async Task PutAsync(string key, ReadOnlyMemory<byte> content, CancellationToken cancellationToken = default)
    {
        var path = PathOf(key);
        var directory = Path.GetDirectoryName(path)!;
        Directory.CreateDirectory(directory);
        var temporary = $"{path}.{Guid.NewGuid():N}{TemporarySuffix}";
        try
        {
            await using (var file = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None, bufferSize: 0, FileOptions.Asynchronous))
            {
                await file.WriteAsync(content, cancellationToken).ConfigureAwait(false);
                file.Flush(flushToDisk: true);
            }

            File.Move(temporary, path, overwrite: true);
            SyncDirectory(directory);
        }
        catch
        {
            File.Delete(temporary);
            throw;
        }
    }

    /// <inheritdoc/>
    public async Task<byte[]?> GetAsync(string key, CancellationToken cancellationToken = default)
    {
        try
        {
            return await File.ReadAllBytesAsync(PathOf(key), cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            return null;
        }
    }

    /// <inheritdoc/>
    public Task<IReadOnlyList<string>> ListAsync(string prefix, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(prefix);
        var slash = prefix.LastIndexOf('/');
        var start = slash < 0 ? Root : PathOf(prefix[..slash]);
        IReadOnlyList<string> keys = !Directory.Exists(start) ? [] : [.. Directory
            .EnumerateFiles(start, "*", SearchOption.AllDirectories)
            .Where(f => !f.EndsWith(TemporarySuffix, StringComparison.Ordinal))
            .Select(f => Path.GetRelativePath(Root, f).Replace(Path.DirectorySeparatorChar, '/'))
            .Where(k => k.StartsWith(prefix, StringComparison.Ordinal))
            .Order(StringComparer.Ordinal)];
        return Task.FromResult(keys);
    }

    /// <inheritdoc/>
    public Task DeleteAsync(string key, CancellationToken cancellationToken = default)
    {
        try
        {
            File.Delete(PathOf(key));
        }
        catch (DirectoryNotFoundException)
        {
            // Nothing was ever stored under it.
        }

        return Task.CompletedTask;
    }

    /// <summary>The file of <paramref name="key"/>, which must stay under the root.</summary>
    /// <exception cref="ArgumentException">The key is empty, absolute, or leaves the root.</exception>
    private string PathOf(string key)
    {
        ArgumentException.ThrowIfNullOrEmpty(key);
        if (key.StartsWith('/') || key.Contains('\\') || key.Contains(':') || key.Split('/').Any(part => part is "" or "." or ".."))
        {
            throw new ArgumentException($"The backup key '{key}' must be a relative path of names without '.', '..', '\\' or ':'.", nameof(key));
        }

        return Path.Combine(Root, key.Replace('/', Path.DirectorySeparatorChar));
    }

    // A rename is durable once its directory is synced (POSIX); Windows has no directory handle to sync.
    private static void SyncDirectory(string directory)
    {
        if (OperatingSystem.IsWindows())
        {
            return;
        }

        var descriptor = Open(directory, 0 /* O_RDONLY */);
        if (descriptor < 0)
        {
            throw new IOException($"Cannot open '{directory}' to sync it (errno {Marshal.GetLastPInvokeError()}).");
        }

        try
        {
            if (FileSync(descriptor) != 0)
            {
                throw new IOException($"Syncing '{directory}' failed (errno {Marshal.GetLastPInvokeError()}).");
            }
        }
        finally
        {
            _ = Close(descriptor);
        }
    }

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
    private static partial int FileSync(int descriptor);

    [LibraryImport("libc", EntryPoint = "close")]
    private static partial int Close(int descriptor);
}
