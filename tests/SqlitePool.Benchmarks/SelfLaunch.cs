using System.Diagnostics;

namespace SqlitePool.Benchmarks;

/// <summary>Starts this program again as a child process with other arguments (a client, a tenant side).</summary>
internal static class SelfLaunch
{
    public static ProcessStartInfo StartInfo(params string[] args)
    {
        var info = new ProcessStartInfo(Environment.ProcessPath!) { UseShellExecute = false };
        // Under `dotnet run` or `dotnet X.dll` the process is the host, which needs the assembly first.
        if (Path.GetFileNameWithoutExtension(Environment.ProcessPath) == "dotnet")
        {
            info.ArgumentList.Add(typeof(SelfLaunch).Assembly.Location);
        }

        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        return info;
    }
}
