using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using OpenTelemetry.Exporter;
using OpenTelemetry.Metrics;
using Orleans.Dashboard;
using SqlitePool.Client;
using SqlitePool.Diagnostics;

namespace SqlitePool.Silo;

/// <summary>The silo's HTTP side: the Orleans dashboard, the Databases page and its JSON, health, and metrics export.</summary>
internal static class SiloWeb
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        Converters = { new JsonStringEnumConverter(), new LeaseIdConverter() },
    };

    public static void AddServices(IServiceCollection services, SiloSettings silo)
    {
        services.AddHealthChecks().AddCheck<SqlitePoolHealthCheck>("sqlitepool");
        if (silo.OtlpEndpoint is { } endpoint)
        {
            // One setting turns export on: the pool's meter and Orleans' own, over OTLP.
            var protocol = silo.OtlpProtocol switch
            {
                "grpc" => OtlpExportProtocol.Grpc,
                "http/protobuf" => OtlpExportProtocol.HttpProtobuf,
                _ => throw new InvalidOperationException($"Silo:OtlpProtocol is '{silo.OtlpProtocol}'; use 'grpc' or 'http/protobuf'."),
            };
            services.AddOpenTelemetry().WithMetrics(metrics => metrics
                .AddMeter(SqlitePoolMetrics.MeterName, "Microsoft.Orleans")
                .AddOtlpExporter((exporter, reader) =>
                {
                    exporter.Endpoint = new Uri(endpoint);
                    exporter.Protocol = protocol;
                    reader.PeriodicExportingMetricReaderOptions.ExportIntervalMilliseconds = (int)silo.OtlpInterval.TotalMilliseconds;
                }));
        }
    }

    public static void Map(WebApplication app, SiloSettings silo)
    {
        if (silo.Dashboard)
        {
            app.MapOrleansDashboard(routePrefix: "/dashboard");
        }

        app.MapGet("/", () => Results.Redirect("/databases"));
        app.MapGet("/databases", () => Results.Stream(typeof(SiloWeb).Assembly.GetManifestResourceStream("databases.html")!, "text/html; charset=utf-8"));
        app.MapGet("/api/databases", async (IClusterClient client) =>
            Results.Json(new { at = DateTimeOffset.UtcNow, nodes = await client.GetOpenDatabasesAsync() }, Json));
        app.MapHealthChecks("/health", new HealthCheckOptions { ResponseWriter = WriteHealthAsync });
    }

    private static Task WriteHealthAsync(HttpContext context, HealthReport report)
    {
        context.Response.ContentType = "application/json";
        return context.Response.WriteAsync(JsonSerializer.Serialize(new
        {
            status = report.Status.ToString(),
            checks = report.Entries.ToDictionary(e => e.Key, e => new { status = e.Value.Status.ToString(), e.Value.Description, e.Value.Data }),
        }, Json));
    }

    private sealed class LeaseIdConverter : JsonConverter<LeaseId>
    {
        public override LeaseId Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) => new(Guid.Parse(reader.GetString()!));

        public override void Write(Utf8JsonWriter writer, LeaseId value, JsonSerializerOptions options) => writer.WriteStringValue(value.ToString());
    }
}
