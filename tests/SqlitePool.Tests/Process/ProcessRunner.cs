using System.Diagnostics;
using SqlitePool.Tests.Support;

namespace SqlitePool.Tests.Process;

/// <summary>Finds the built silo and CLI beside the test assembly's configuration and runs them as processes.</summary>
internal static class ProcessRunner
{
    public static string Configuration { get; } = new DirectoryInfo(Path.TrimEndingDirectorySeparator(AppContext.BaseDirectory)).Parent!.Name;

    public static string SiloDll => Built("silo/SqlitePool.Silo", "SqlitePool.Silo.dll");

    public static string CliDll => Built("client/SqlitePool.Cli", "sqlitepool.dll");

    /// <summary>A foreign process that tries once to take a database's write lock (tests/SqlitePool.LockProbe).</summary>
    public static string LockProbeDll => Built("tests/SqlitePool.LockProbe", "SqlitePool.LockProbe.dll");

    public static ProcessStartInfo Dotnet(string dll, IEnumerable<string> args, string? workingDirectory = null)
    {
        var info = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? Environment.CurrentDirectory,
        };
        info.ArgumentList.Add(dll);
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        return info;
    }

    public static Task<CliResult> RunCliAsync(IEnumerable<string> args, string? input = null) => RunAsync(CliDll, args, input);

    /// <summary>Runs a built program to its end (at most a minute) and returns its exit code and output.</summary>
    public static async Task<CliResult> RunAsync(string dll, IEnumerable<string> args, string? input = null)
    {
        using var process = System.Diagnostics.Process.Start(Dotnet(dll, args))!;
        if (input is not null)
        {
            await process.StandardInput.WriteAsync(input);
        }

        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(60));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }

        return new CliResult(process.ExitCode, (await stdout).TrimEnd('\n'), (await stderr).TrimEnd('\n'));
    }

    private static string Built(string project, string dll)
    {
        var path = Path.Combine(Repository.Root, project, "bin", Configuration, "net10.0", dll);
        return File.Exists(path) ? path : throw new FileNotFoundException($"Build {project} ({Configuration}) first.", path);
    }
}

internal sealed record CliResult(int ExitCode, string Stdout, string Stderr);
