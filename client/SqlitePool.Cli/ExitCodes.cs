namespace SqlitePool.Cli;

/// <summary>The CLI's exit codes.</summary>
internal static class ExitCodes
{
    public const int Ok = 0;
    public const int RequestError = 1;
    public const int Usage = 2;
    public const int Unavailable = 3;
}

/// <summary>Bad command-line input found after parsing (a parameter value, a file).</summary>
internal sealed class UsageException(string message) : Exception(message);
