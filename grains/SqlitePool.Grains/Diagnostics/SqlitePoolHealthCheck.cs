using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using SqlitePool.Engine;
using SqlitePool.Hosting;

namespace SqlitePool.Diagnostics;

/// <summary>
/// This silo's databases are healthy when each open one answers <c>SELECT 1</c> within
/// <see cref="SqlitePoolOptions.HealthCheckTimeout"/> (the read waits its turn like any other, so a database held
/// exclusively or starved of readers fails), its write-ahead log is under <see cref="SqlitePoolOptions.HealthWalLimitBytes"/>
/// and its continuous backup, if it has one, is storing (else degraded, with the reason).
/// </summary>
public sealed class SqlitePoolHealthCheck(DatabasePoolRegistry registry, IOptions<SqlitePoolOptions> options) : IHealthCheck
{
    private static readonly Statement Probe = new("SELECT 1");

    /// <inheritdoc />
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var limit = options.Value.HealthCheckTimeout;
        var pools = registry.OpenPools.Where(p => !p.IsClosed).ToList();
        var findings = await Task.WhenAll(pools.Select(p => CheckAsync(p, limit, cancellationToken))).ConfigureAwait(false);
        var data = new Dictionary<string, object>(StringComparer.Ordinal);
        for (var i = 0; i < pools.Count; i++)
        {
            data[pools[i].Database] = findings[i].Status + (findings[i].Problem is { } problem ? ": " + problem : "");
        }

        var failed = pools.Zip(findings).Where(p => p.Second.Problem is not null).Select(p => $"{p.First.Database} {p.Second.Problem}").ToList();
        var worst = findings.Select(f => f.Status).DefaultIfEmpty(HealthStatus.Healthy).Min();
        var summary = failed.Count == 0 ? $"{pools.Count} open database(s) answered within {limit.TotalSeconds:0.###} s" : string.Join("; ", failed);
        return new HealthCheckResult(worst, summary, data: data);
    }

    private async Task<(HealthStatus Status, string? Problem)> CheckAsync(DatabasePool pool, TimeSpan limit, CancellationToken cancellationToken)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(limit);
        try
        {
            await pool.QueryAsync(Probe, deadline.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return (HealthStatus.Unhealthy, $"did not answer SELECT 1 within {limit.TotalSeconds:0.###} s");
        }
        catch (DatabaseClosedException)
        {
            return (HealthStatus.Healthy, null);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            return (HealthStatus.Unhealthy, "failed SELECT 1: " + ex.Message);
        }

        var statistics = pool.GetStatistics();
        return statistics.WalBytes > options.Value.HealthWalLimitBytes
            ? (HealthStatus.Degraded, $"has a write-ahead log of {statistics.WalBytes} bytes, over the limit of {options.Value.HealthWalLimitBytes}")
            : statistics.Backup is { Error: { } error } backup
                ? (HealthStatus.Degraded, $"is not backed up: {error} (lag {backup.LagSeconds:0.###} s, {backup.LagBytes} bytes; last stored transaction {backup.TransactionId?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "unknown"})")
                : (HealthStatus.Healthy, null);
    }
}
