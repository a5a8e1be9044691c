using Microsoft.Extensions.Configuration;

namespace SqlitePool.Silo;

/// <summary>The host's own settings (section <c>Silo</c>) and the short command-line switches.</summary>
internal sealed record SiloSettings(
    int SiloPort,
    int GatewayPort,
    string ClusterId,
    string ServiceId,
    string? Redis,
    string? AdvertisedHost,
    bool Kubernetes,
    int HttpPort,
    string? OtlpEndpoint,
    string OtlpProtocol,
    TimeSpan OtlpInterval,
    bool Dashboard)
{
    public static readonly Dictionary<string, string> SwitchMappings = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase)
    {
        ["--data-root"] = "SqlitePool:DataRoot",
        ["--node"] = "SqlitePool:NodeName",
        ["--readers"] = "SqlitePool:MaxReaders",
        ["--synchronous"] = "SqlitePool:Synchronous",
        ["--silo-port"] = "Silo:SiloPort",
        ["--gateway-port"] = "Silo:GatewayPort",
        ["--cluster-id"] = "Silo:ClusterId",
        ["--redis"] = "Silo:Redis",
        ["--advertise"] = "Silo:AdvertisedHost",
        ["--http-port"] = "Silo:HttpPort",
        ["--otlp"] = "Silo:OtlpEndpoint",
        ["--otlp-protocol"] = "Silo:OtlpProtocol",
    }.Concat(SiloBackup.SwitchMappings).ToDictionary(StringComparer.OrdinalIgnoreCase);

    /// <summary>How membership is kept, for the start-up log.</summary>
    public string Membership => Kubernetes ? $"kubernetes + redis {Redis}" : Redis is null ? "localhost" : $"redis {Redis}";

    public static SiloSettings Read(IConfiguration configuration)
    {
        var section = configuration.GetSection("Silo");
        var clusterId = section["ClusterId"] ?? "sqlitepool";
        return new SiloSettings(
            section.GetValue("SiloPort", 11111),
            section.GetValue("GatewayPort", 30000),
            clusterId,
            section["ServiceId"] ?? clusterId,
            NullIfEmpty(section["Redis"]),
            NullIfEmpty(section["AdvertisedHost"]),
            section.GetValue("Kubernetes", false),
            section.GetValue("HttpPort", 8080),
            NullIfEmpty(section["OtlpEndpoint"]),
            section["OtlpProtocol"] ?? "grpc",
            section.GetValue("OtlpInterval", TimeSpan.FromSeconds(15)),
            section.GetValue("Dashboard", true));
    }

    private static string? NullIfEmpty(string? value) => string.IsNullOrWhiteSpace(value) ? null : value;
}
