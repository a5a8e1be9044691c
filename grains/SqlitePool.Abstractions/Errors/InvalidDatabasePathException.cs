namespace SqlitePool;

/// <summary>A database path or node name was refused before any file was touched.</summary>
[GenerateSerializer, Alias("SqlitePool.InvalidDatabasePathException")]
public sealed class InvalidDatabasePathException : SqlitePoolException
{
    /// <summary>Creates the exception.</summary>
    public InvalidDatabasePathException(string path, string reason)
        : base($"Invalid database path '{Printable(path)}': {reason}.")
    {
        Path = path;
        Reason = reason;
    }

    /// <summary>The path as given.</summary>
    [Id(0)] public string Path { get; }

    /// <summary>Why it was refused.</summary>
    [Id(1)] public string Reason { get; }

    private static string Printable(string path)
    {
        var text = string.Concat(path.Select(c => char.IsControl(c) || char.IsSurrogate(c) ? $"\\u{(int)c:x4}" : c.ToString()));
        return text.Length <= 300 ? text : text[..300] + "...";
    }
}
