namespace SqlitePool.Tests.Support;

/// <summary>Where the repository (and the shared folder beside it) lies, found from the test assembly.</summary>
internal static class Repository
{
    public static string Root { get; } = FindRoot();

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "SqlitePool.Orleans.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("The repository root (SqlitePool.Orleans.sln) was not found above the test assembly.");
    }
}
