using System.Diagnostics;
using System.Globalization;
using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orleans.Configuration;
using SqlitePool.Client;

namespace SqlitePool.Benchmarks;

/// <summary>
/// The client side of the remote scenarios, run as a separate process that connects to the benchmark silo
/// over loopback. It reads one command per line and answers <c>RESULT value</c>.
/// </summary>
internal static class RemoteClient
{
    public static async Task<int> RunAsync(int gatewayPort, string clusterId)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.UseOrleansClient(client => client
            .UseStaticClustering(new IPEndPoint(IPAddress.Loopback, gatewayPort))
            .Configure<ClusterOptions>(o => o.ClusterId = o.ServiceId = clusterId));
        using var host = builder.Build();
        await host.StartAsync();
        var client = host.Services.GetRequiredService<IClusterClient>();
        Console.WriteLine("READY");
        while (Console.ReadLine() is { } line)
        {
            var parts = line.Split(' ');
            var db = client.GetDatabase("local", parts[1]);
            var value = parts[0] switch
            {
                "point-select" => await Scenarios.GrainPointSelectsAsync(db, TimeSpan.FromSeconds(double.Parse(parts[2], CultureInfo.InvariantCulture))),
                "result" => await Measure.MillisecondsAsync(int.Parse(parts[2], CultureInfo.InvariantCulture), () => db.QueryAsync(Direct.ResultSelect.Replace("$n", Settings.ResultRows.ToString(CultureInfo.InvariantCulture), StringComparison.Ordinal))),
                _ => throw new InvalidOperationException("unknown command " + line),
            };
            Console.WriteLine(FormattableString.Invariant($"RESULT {value}"));
        }

        return 0;
    }

    /// <summary>Starts this program as a client process connected to <paramref name="silo"/>.</summary>
    public static async Task<RemoteProcess> StartAsync(BenchmarkSilo silo)
    {
        var info = new ProcessStartInfo(Environment.ProcessPath!)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        if (Path.GetFileNameWithoutExtension(Environment.ProcessPath) == "dotnet")
        {
            info.ArgumentList.Add(typeof(RemoteClient).Assembly.Location);
        }

        foreach (var arg in new[] { "client", silo.GatewayPort.ToString(CultureInfo.InvariantCulture), silo.ClusterId })
        {
            info.ArgumentList.Add(arg);
        }

        var process = Process.Start(info)!;
        var ready = await process.StandardOutput.ReadLineAsync();
        if (ready != "READY")
        {
            throw new InvalidOperationException("The client process did not start: " + ready);
        }

        return new RemoteProcess(process);
    }
}

/// <summary>A running client process.</summary>
internal sealed class RemoteProcess(Process process) : IDisposable
{
    public async Task<double> AskAsync(string command)
    {
        await process.StandardInput.WriteLineAsync(command);
        await process.StandardInput.FlushAsync();
        var answer = await process.StandardOutput.ReadLineAsync() ?? throw new InvalidOperationException("The client process ended.");
        return answer.StartsWith("RESULT ", StringComparison.Ordinal)
            ? double.Parse(answer["RESULT ".Length..].Split(' ')[0], CultureInfo.InvariantCulture)
            : throw new InvalidOperationException(answer);
    }

    public void Dispose()
    {
        process.StandardInput.Close();
        if (!process.WaitForExit(5000))
        {
            process.Kill();
        }

        process.Dispose();
    }
}
