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
            var answer = parts[0] switch
            {
                "point-select" => $"{await Scenarios.GrainPointSelectsAsync(db, TimeSpan.FromSeconds(double.Parse(parts[2], CultureInfo.InvariantCulture)))}",
                "result" => $"{await Measure.MillisecondsAsync(int.Parse(parts[2], CultureInfo.InvariantCulture), () => db.QueryAsync(Scenarios.ResultSelect()))}",
                "stream" => await StreamAsync(db),
                "noop" => $"{await Measure.ThroughputAsync(Settings.Callers, TimeSpan.FromSeconds(double.Parse(parts[2], CultureInfo.InvariantCulture)), i => client.GetGrain<INoopGrain>(0).PingAsync(i))}",
                _ => throw new InvalidOperationException("unknown command " + line),
            };
            Console.WriteLine("RESULT " + answer);
        }

        return 0;
    }

    /// <summary>Streams every row of the big table: rows per second, and the growth of the process's memory.</summary>
    private static async Task<string> StreamAsync(SqliteDatabase db)
    {
        GC.Collect();
        var before = Environment.WorkingSet;
        var peak = before;
        using var stop = new CancellationTokenSource();
        var sampler = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                peak = Math.Max(peak, Environment.WorkingSet);
                await Task.Delay(10);
            }
        });
        var clock = Stopwatch.StartNew();
        long rows = 0;
        await foreach (var batch in db.StreamAsync(new Statement(Direct.StreamSelect)))
        {
            for (var r = 0; r < batch.RowCount; r++)
            {
                _ = (batch[r, 0], batch[r, 3]);
            }

            rows += batch.RowCount;
            if (rows % 100_000 < batch.RowCount && Environment.GetEnvironmentVariable("BENCH_TRACE") is not null)
            {
                Console.Error.WriteLine($"{rows} rows after {clock.ElapsedMilliseconds} ms");
            }
        }

        var elapsed = clock.Elapsed;
        await stop.CancelAsync();
        await sampler;
        return FormattableString.Invariant($"{rows / elapsed.TotalSeconds} {(peak - before) / (1024.0 * 1024.0)} {rows}");
    }

    /// <summary>Starts this program as a client process connected to <paramref name="silo"/>.</summary>
    public static async Task<RemoteProcess> StartAsync(BenchmarkSilo silo)
    {
        var info = SelfLaunch.StartInfo("client", silo.GatewayPort.ToString(CultureInfo.InvariantCulture), silo.ClusterId);
        info.RedirectStandardInput = true;
        info.RedirectStandardOutput = true;
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
    public async Task<double> AskAsync(string command) => (await AskAllAsync(command))[0];

    /// <summary>Every number of the answer.</summary>
    public async Task<double[]> AskAllAsync(string command)
    {
        await process.StandardInput.WriteLineAsync(command);
        await process.StandardInput.FlushAsync();
        var answer = await process.StandardOutput.ReadLineAsync() ?? throw new InvalidOperationException("The client process ended.");
        return answer.StartsWith("RESULT ", StringComparison.Ordinal)
            ? [.. answer["RESULT ".Length..].Split(' ').Select(v => double.Parse(v, CultureInfo.InvariantCulture))]
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
