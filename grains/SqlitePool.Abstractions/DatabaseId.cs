using System.Text;

namespace SqlitePool;

/// <summary>
/// Identifies one SQLite database in the cluster: the node (silo name) whose disk holds it and its
/// path relative to that node's data root. The grain key is <c>node/path</c>; people write <c>node:path</c>.
/// </summary>
/// <remarks>
/// Paths are validated on construction: relative, <c>/</c>-separated, no empty, <c>.</c> or <c>..</c>
/// segments, no segment ending in a space or a dot (nor one of spaces alone), no control characters, backslashes, colons or invalid UTF-16, at most
/// <see cref="MaxPathLength"/> UTF-8 bytes (<see cref="MaxSegmentLength"/> per segment), and not a name
/// SQLite uses for its own side files (<c>-wal</c>, <c>-shm</c>, <c>-journal</c>).
/// </remarks>
[GenerateSerializer, Immutable, Alias("SqlitePool.DatabaseId")]
public readonly record struct DatabaseId
{
    /// <summary>The node name used when none is given: <c>local</c>.</summary>
    public const string DefaultNode = "local";

    /// <summary>Longest accepted path, in UTF-8 bytes.</summary>
    public const int MaxPathLength = 1024;

    /// <summary>Longest accepted path segment, in UTF-8 bytes.</summary>
    public const int MaxSegmentLength = 255;

    /// <summary>Longest accepted node name.</summary>
    public const int MaxNodeLength = 63;

    private static readonly string[] ReservedSuffixes = ["-wal", "-shm", "-journal", ".lock"];

    /// <summary>Creates an id after validating both parts.</summary>
    /// <exception cref="InvalidDatabasePathException">The node or path is not acceptable.</exception>
    public DatabaseId(string node, string path)
    {
        ValidateNode(node);
        ValidatePath(path);
        Node = node;
        Path = path;
    }

    /// <summary>The node (silo name) whose data root holds the file.</summary>
    [Id(0)] public string Node { get; }

    /// <summary>The path relative to the node's data root, <c>/</c>-separated.</summary>
    [Id(1)] public string Path { get; }

    /// <summary>The database grain's key: <c>node/path</c>.</summary>
    public string GrainKey => $"{Node}/{Path}";

    /// <summary>Parses the command-line form <c>[node:]path</c>; the node defaults to <paramref name="defaultNode"/>.</summary>
    /// <exception cref="InvalidDatabasePathException">The text is not a valid database id.</exception>
    public static DatabaseId Parse(string text, string defaultNode = DefaultNode)
    {
        ArgumentNullException.ThrowIfNull(text);
        var colon = text.IndexOf(':', StringComparison.Ordinal);
        return colon < 0 ? new DatabaseId(defaultNode, text) : new DatabaseId(text[..colon], text[(colon + 1)..]);
    }

    /// <summary>Parses a grain key <c>node/path</c>.</summary>
    /// <exception cref="InvalidDatabasePathException">The key has no node or an invalid path.</exception>
    public static DatabaseId FromGrainKey(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        var slash = key.IndexOf('/', StringComparison.Ordinal);
        if (slash <= 0)
        {
            throw new InvalidDatabasePathException(key, "a database grain key is 'node/path'; the node is missing");
        }

        return new DatabaseId(key[..slash], key[(slash + 1)..]);
    }

    /// <inheritdoc />
    public override string ToString() => GrainKey;

    private static void ValidateNode(string node)
    {
        if (string.IsNullOrEmpty(node) || node.Length > MaxNodeLength)
        {
            throw new InvalidDatabasePathException(node ?? "", $"a node name has 1 to {MaxNodeLength} characters");
        }

        foreach (var c in node)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.'))
            {
                throw new InvalidDatabasePathException(node, "a node name uses only ASCII letters, digits, '-', '_' and '.'");
            }
        }
    }

    private static void ValidatePath(string path)
    {
        if (string.IsNullOrEmpty(path))
        {
            throw new InvalidDatabasePathException(path ?? "", "the path is empty");
        }

        for (var i = 0; i < path.Length; i++)
        {
            var c = path[i];
            if (char.IsControl(c))
            {
                throw new InvalidDatabasePathException(path, "the path contains a control character");
            }

            if (c is '\\' or ':')
            {
                throw new InvalidDatabasePathException(path, $"the path contains '{c}'; use '/' between segments and no drive letters");
            }

            if (char.IsSurrogate(c) && !(char.IsHighSurrogate(c) && i + 1 < path.Length && char.IsLowSurrogate(path[++i])))
            {
                throw new InvalidDatabasePathException(path, "the path is not valid UTF-16 (lone surrogate)");
            }
        }

        if (path[0] == '/')
        {
            throw new InvalidDatabasePathException(path, "the path is absolute; give it relative to the data root");
        }

        if (Encoding.UTF8.GetByteCount(path) > MaxPathLength)
        {
            throw new InvalidDatabasePathException(path, $"the path is longer than {MaxPathLength} bytes");
        }

        foreach (var segment in path.Split('/'))
        {
            if (segment.Length == 0)
            {
                throw new InvalidDatabasePathException(path, "the path has an empty segment");
            }

            if (segment is "." or "..")
            {
                throw new InvalidDatabasePathException(path, "the path has a '.' or '..' segment");
            }

            if (segment[^1] is ' ' or '.')
            {
                // Windows drops them (two keys, one file) and a segment of spaces alone is invisible in listings.
                throw new InvalidDatabasePathException(path, "a path segment ends in a space or a dot");
            }

            if (Encoding.UTF8.GetByteCount(segment) > MaxSegmentLength)
            {
                throw new InvalidDatabasePathException(path, $"a path segment is longer than {MaxSegmentLength} bytes");
            }
        }

        foreach (var suffix in ReservedSuffixes)
        {
            if (path.EndsWith(suffix, StringComparison.OrdinalIgnoreCase))
            {
                throw new InvalidDatabasePathException(path, $"names ending in '{suffix}' are reserved for SQLite's and the pool's side files");
            }
        }
    }
}
