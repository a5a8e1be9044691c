using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace SqlitePool.Benchmarks;

/// <summary>Azurite's blob service (installed by tests/run.sh into tests/azurite) for the backup scenarios, in a
/// folder of its own; null when it is not installed.</summary>
internal sealed class BenchmarkAzurite : IDisposable
{
    private readonly Process _process;

    private BenchmarkAzurite(Process process, int port)
    {
        _process = process;
        ConnectionString = "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
            + "AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;"
            + $"BlobEndpoint=http://127.0.0.1:{port}/devstoreaccount1;";
    }

    public string ConnectionString { get; }

    public static async Task<BenchmarkAzurite?> StartAsync(string location)
    {
        var root = AppContext.BaseDirectory;
        while (root is not null && !File.Exists(Path.Combine(root, "SqlitePool.Orleans.sln")))
        {
            root = Path.GetDirectoryName(root.TrimEnd(Path.DirectorySeparatorChar));
        }

        var azurite = root is null ? null : Path.Combine(root, "tests", "azurite", "node_modules", ".bin", "azurite-blob");
        if (azurite is null || !File.Exists(azurite))
        {
            return null;
        }

        Directory.CreateDirectory(location);
        using (var listener = new TcpListener(IPAddress.Loopback, 0))
        {
            listener.Start();
            var port = ((IPEndPoint)listener.LocalEndpoint).Port;
            listener.Stop();
            var info = new ProcessStartInfo(azurite) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = location };
            foreach (var arg in new[] { "--location", location, "--blobHost", "127.0.0.1", "--blobPort", port.ToString(), "--skipApiVersionCheck", "--loose" })
            {
                info.ArgumentList.Add(arg);
            }

            var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var process = new Process { StartInfo = info };
            process.OutputDataReceived += (_, e) =>
            {
                if (e.Data?.Contains("successfully listens on", StringComparison.Ordinal) == true)
                {
                    ready.TrySetResult();
                }
            };
            process.ErrorDataReceived += (_, _) => { };
            process.Start();
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            await ready.Task.WaitAsync(TimeSpan.FromSeconds(60));
            return new BenchmarkAzurite(process, port);
        }
    }

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
        }

        _process.Dispose();
    }
}
