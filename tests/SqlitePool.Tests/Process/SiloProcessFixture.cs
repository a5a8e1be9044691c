using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using SqlitePool.Tests.Support;

namespace SqlitePool.Tests.Process;

/// <summary>The silo host as a real process on free loopback ports, with its own working directory.</summary>
public sealed class SiloProcessFixture : IAsyncLifetime
{
    private readonly TempDirectory _directory = new();
    private System.Diagnostics.Process? _silo;
    private readonly List<string> _log = [];

    public string WorkingDirectory => _directory.Path;

    public string DataRoot => Path.Combine(_directory.Path, "data");

    public int GatewayPort { get; } = FreePort();

    public string ClusterId { get; } = "cli-" + Guid.NewGuid().ToString("N")[..8];

    public string[] Connection => ["--gateway", $"127.0.0.1:{GatewayPort}", "--cluster-id", ClusterId];

    public async ValueTask InitializeAsync()
    {
        var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var info = ProcessRunner.Dotnet(ProcessRunner.SiloDll,
            ["--gateway-port", GatewayPort.ToString(), "--silo-port", FreePort().ToString(), "--cluster-id", ClusterId], _directory.Path);
        _silo = new System.Diagnostics.Process { StartInfo = info };
        _silo.OutputDataReceived += (_, e) => OnLine(e.Data, ready);
        _silo.ErrorDataReceived += (_, e) => OnLine(e.Data, ready);
        _silo.Exited += (_, _) => ready.TrySetException(new InvalidOperationException("The silo exited:\n" + string.Join('\n', _log)));
        _silo.EnableRaisingEvents = true;
        _silo.Start();
        _silo.BeginOutputReadLine();
        _silo.BeginErrorReadLine();
        await ready.Task.WaitAsync(TimeSpan.FromSeconds(60));
    }

    public async ValueTask DisposeAsync()
    {
        if (_silo is { HasExited: false })
        {
            _silo.Kill(entireProcessTree: true);
            await _silo.WaitForExitAsync();
        }

        _silo?.Dispose();
        _directory.Dispose();
    }

    private void OnLine(string? line, TaskCompletionSource ready)
    {
        if (line is null)
        {
            return;
        }

        lock (_log)
        {
            _log.Add(line);
        }

        // The host logs this once the silo has started and its gateway listens.
        if (line.Contains(" ready: data root ", StringComparison.Ordinal))
        {
            ready.TrySetResult();
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
