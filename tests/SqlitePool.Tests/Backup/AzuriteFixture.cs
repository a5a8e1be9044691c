using SqlitePool.Engine.Backup;
using SqlitePool.Tests.Process;
using SqlitePool.Tests.Support;

namespace SqlitePool.Tests.Backup;

/// <summary>One Azurite process (tests/run.sh installs it) for a test class; each test gets a container of its own.</summary>
public sealed class AzuriteFixture : IAsyncLifetime
{
    private readonly TempDirectory _directory = new();
    private ServerProcess? _azurite;
    private int _port;

    public async ValueTask InitializeAsync()
    {
        if (ServerProcess.AzuriteInstalled)
        {
            _port = ServerProcess.FreePort();
            _azurite = await ServerProcess.StartAzuriteAsync(_directory.Path, _port);
        }
    }

    /// <summary>The connection string of the running Azurite; the test is skipped when Azurite is not installed.</summary>
    public string ConnectionString
    {
        get
        {
            if (_azurite is null)
            {
                Assert.Skip("Azurite is not installed; tests/run.sh installs it into tests/azurite.");
            }

            return ServerProcess.AzuriteConnectionString(_port);
        }
    }

    /// <summary>A target in a new container; the test is skipped when Azurite is not installed.</summary>
    public IBackupTarget NewTarget() => new AzureBlobBackupTarget(ConnectionString, $"c{Guid.NewGuid():N}");

    public async ValueTask DisposeAsync()
    {
        if (_azurite is not null)
        {
            await _azurite.DisposeAsync();
        }

        _directory.Dispose();
    }
}
