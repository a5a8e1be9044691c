using SqlitePool.Tests.Support;

namespace SqlitePool.Tests.Process;

/// <summary>The silo host as a real process on free loopback ports, with its own working directory.</summary>
public sealed class SiloProcessFixture : IAsyncLifetime
{
    private readonly TempDirectory _directory = new();
    private ServerProcess? _silo;

    public string WorkingDirectory => _directory.Path;

    public string DataRoot => Path.Combine(_directory.Path, "data");

    public int GatewayPort { get; } = ServerProcess.FreePort();

    public string ClusterId { get; } = "cli-" + Guid.NewGuid().ToString("N")[..8];

    /// <summary>The port of the silo's HTTP side (dashboard, Databases page, health).</summary>
    public int HttpPort { get; } = ServerProcess.FreePort();

    public Uri Http => new($"http://127.0.0.1:{HttpPort}");

    /// <summary>The health check's deadline for each database's <c>SELECT 1</c>.</summary>
    public static TimeSpan HealthCheckTimeout { get; } = TimeSpan.FromSeconds(1);

    public string[] Connection => ["--gateway", $"127.0.0.1:{GatewayPort}", "--cluster-id", ClusterId];

    public async ValueTask InitializeAsync() =>
        _silo = await ServerProcess.StartSiloAsync(_directory.Path,
            ["--gateway-port", GatewayPort.ToString(), "--silo-port", ServerProcess.FreePort().ToString(), "--cluster-id", ClusterId,
             "--http-port", HttpPort.ToString(), $"--SqlitePool:HealthCheckTimeout={HealthCheckTimeout}"]);

    public async ValueTask DisposeAsync()
    {
        if (_silo is not null)
        {
            await _silo.DisposeAsync();
        }

        _directory.Dispose();
    }
}
