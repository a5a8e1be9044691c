namespace SqlitePool.Hosting;

/// <summary>Maps a validated database path to a file under the silo's data root, refusing anything that
/// would leave it (including through symbolic links) before a file is touched.</summary>
internal sealed class DataRoot
{
    public DataRoot(string root) => FullPath = Path.TrimEndingDirectorySeparator(Path.GetFullPath(root));

    public string FullPath { get; }

    /// <exception cref="InvalidDatabasePathException">The path would resolve outside the data root.</exception>
    public string Resolve(DatabaseId id)
    {
        var full = Name(id);
        if (!full.StartsWith(FullPath + Path.DirectorySeparatorChar, StringComparison.Ordinal))
        {
            throw new InvalidDatabasePathException(id.Path, "it resolves outside the data root");
        }

        // A link inside the root could point anywhere: refuse links on the way to the file.
        var current = FullPath;
        foreach (var segment in id.Path.Split('/'))
        {
            current = Path.Combine(current, segment);
            var info = new FileInfo(current);
            if (info.LinkTarget is not null || (Directory.Exists(current) && new DirectoryInfo(current).LinkTarget is not null))
            {
                throw new InvalidDatabasePathException(id.Path, "it passes through a symbolic link");
            }

            if (!info.Exists && !Directory.Exists(current))
            {
                break;
            }
        }

        if (Directory.Exists(full))
        {
            throw new InvalidDatabasePathException(id.Path, "it names a directory");
        }

        return full;
    }

    /// <summary>The full path <paramref name="id"/> names, computed without touching a file: only to find a database
    /// already opened under it (an open goes through <see cref="Resolve"/>).</summary>
    public string Name(DatabaseId id) => Path.GetFullPath(Path.Combine(FullPath, id.Path));
}
