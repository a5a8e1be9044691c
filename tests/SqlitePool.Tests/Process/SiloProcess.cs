using System.Net;
using System.Net.Sockets;

namespace SqlitePool.Tests.Process;

/// <summary>A real server process (the silo host, redis-server or Azurite) that is ready once a line appears in its output.</summary>
internal sealed class ServerProcess : IAsyncDisposable
{
    private readonly System.Diagnostics.Process _process;
    private readonly List<string> _log = [];
    private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly string _readyLine;

    private ServerProcess(System.Diagnostics.ProcessStartInfo info, string readyLine)
    {
        _readyLine = readyLine;
        _process = new System.Diagnostics.Process { StartInfo = info, EnableRaisingEvents = true };
        _process.OutputDataReceived += (_, e) => OnLine(e.Data);
        _process.ErrorDataReceived += (_, e) => OnLine(e.Data);
        _process.Exited += (_, _) => _ready.TrySetException(new InvalidOperationException($"{info.FileName} exited:\n{Log}"));
    }

    public string Log
    {
        get
        {
            lock (_log)
            {
                return string.Join('\n', _log);
            }
        }
    }

    /// <summary>Starts the silo host from its build output with <paramref name="workingDirectory"/> as working directory;
    /// its HTTP side listens on a port of the system's choosing unless <paramref name="args"/> give <c>--http-port</c>.</summary>
    public static Task<ServerProcess> StartSiloAsync(string workingDirectory, IEnumerable<string> args)
    {
        var all = args.ToList();
        if (!all.Contains("--http-port"))
        {
            all.AddRange(["--http-port", "0"]);
        }

        return StartAsync(ProcessRunner.Dotnet(ProcessRunner.SiloDll, all, workingDirectory), " ready: data root ");
    }

    public static Task<ServerProcess> StartRedisAsync(string workingDirectory, int port)
    {
        var info = new System.Diagnostics.ProcessStartInfo("redis-server")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory,
        };
        foreach (var arg in new[] { "--port", port.ToString(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no" })
        {
            info.ArgumentList.Add(arg);
        }

        return StartAsync(info, "Ready to accept connections");
    }

    /// <summary>Azurite's blob service (Microsoft's Azure Storage emulator, installed by tests/run.sh into tests/azurite)
    /// on <paramref name="port"/>, keeping its data in <paramref name="location"/>.</summary>
    public static Task<ServerProcess> StartAzuriteAsync(string location, int port)
    {
        var info = new System.Diagnostics.ProcessStartInfo(AzuriteBlob)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = location,
        };
        foreach (var arg in new[] { "--location", location, "--blobHost", "127.0.0.1", "--blobPort", port.ToString(), "--skipApiVersionCheck", "--loose" })
        {
            info.ArgumentList.Add(arg);
        }

        return StartAsync(info, "successfully listens on");
    }

    /// <summary>The connection string of Azurite's well-known development account on <paramref name="port"/>.</summary>
    public static string AzuriteConnectionString(int port) =>
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
        + "AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;"
        + $"BlobEndpoint=http://127.0.0.1:{port}/devstoreaccount1;";

    public static string AzuriteBlob { get; } = Path.Combine(Support.Repository.Root, "tests", "azurite", "node_modules", ".bin", "azurite-blob");

    public static bool AzuriteInstalled => File.Exists(AzuriteBlob);

    public static bool RedisInstalled =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Any(d => File.Exists(Path.Combine(d, "redis-server")));

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>SIGKILL: no shutdown code runs.</summary>
    public async Task KillAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
        }

        await _process.WaitForExitAsync();
    }

    /// <summary>SIGTERM, as when a service is told to stop; once it exits or prints <paramref name="stoppedLine"/>
    /// (Azurite says its service closed, its metadata saved, and lingers), it is killed.</summary>
    public async Task StopAsync(string stoppedLine = "successfully closed")
    {
        if (!_process.HasExited)
        {
            using var kill = System.Diagnostics.Process.Start("kill", ["-TERM", _process.Id.ToString()])!;
            await kill.WaitForExitAsync();
        }

        for (var waited = 0; waited < 300 && !_process.HasExited && !Log.Contains(stoppedLine, StringComparison.Ordinal); waited++)
        {
            await Task.Delay(100);
        }

        await KillAsync();
    }

    public async ValueTask DisposeAsync()
    {
        await KillAsync();
        _process.Dispose();
    }

    private static async Task<ServerProcess> StartAsync(System.Diagnostics.ProcessStartInfo info, string readyLine)
    {
        var server = new ServerProcess(info, readyLine);
        server._process.Start();
        server._process.BeginOutputReadLine();
        server._process.BeginErrorReadLine();
        try
        {
            await server._ready.Task.WaitAsync(TimeSpan.FromSeconds(90), TestContext.Current.CancellationToken);
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }

        return server;
    }

    private void OnLine(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_log)
        {
            _log.Add(line);
        }

        if (line.Contains(_readyLine, StringComparison.Ordinal))
        {
            _ready.TrySetResult();
        }
    }
}
