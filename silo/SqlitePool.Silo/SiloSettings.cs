using Microsoft.Extensions.Configuration;
using SqlitePool.Hosting;

namespace SqlitePool.Silo;

/// <summary>The host's own settings (section <c>Silo</c>) and the short command-line switches.</summary>
internal sealed record SiloSettings(int SiloPort, int GatewayPort, string ClusterId, string ServiceId)
{
    public static readonly Dictionary<string, string> SwitchMappings = new(StringComparer.OrdinalIgnoreCase)
    {
        ["--data-root"] = "SqlitePool:DataRoot",
        ["--node"] = "SqlitePool:NodeName",
        ["--readers"] = "SqlitePool:MaxReaders",
        ["--synchronous"] = "SqlitePool:Synchronous",
        ["--silo-port"] = "Silo:SiloPort",
        ["--gateway-port"] = "Silo:GatewayPort",
        ["--cluster-id"] = "Silo:ClusterId",
    };

    public static SiloSettings Read(IConfiguration configuration)
    {
        var section = configuration.GetSection("Silo");
        return new SiloSettings(
            section.GetValue("SiloPort", 11111),
            section.GetValue("GatewayPort", 30000),
            section["ClusterId"] ?? "sqlitepool",
            section["ServiceId"] ?? "sqlitepool");
    }
}
