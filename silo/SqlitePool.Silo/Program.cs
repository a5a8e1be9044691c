using Orleans.Configuration;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using SqlitePool.Hosting;
using SqlitePool.Silo;

var settings = new HostApplicationBuilderSettings
{
    Args = args,
    // appsettings.json ships beside the binary; the data root stays relative to the working directory.
    ContentRootPath = AppContext.BaseDirectory,
    Configuration = new ConfigurationManager(),
};

// Watching files for configuration reloads costs CPU that SQLite needs; settings are read once at start.
settings.Configuration["hostBuilder:reloadConfigOnChange"] = "false";
var builder = Host.CreateApplicationBuilder(settings);
builder.Configuration.AddCommandLine(args, SiloSettings.SwitchMappings);

var silo = SiloSettings.Read(builder.Configuration);
if (silo.Kubernetes)
{
    // Kubernetes hosting names the silo after its pod; that name is the node name.
    builder.Configuration[$"{SqlitePoolOptions.SectionName}:NodeName"] = "";
}

builder.UseOrleans(orleans =>
{
    SiloClustering.Configure(orleans, silo);
    orleans.Configure<ClusterMembershipOptions>(builder.Configuration.GetSection("Silo:Membership"));
    orleans.AddSqlitePool(builder.Configuration.GetSection(SqlitePoolOptions.SectionName));
});

var host = builder.Build();
await host.StartAsync();
var pool = host.Services.GetRequiredService<IOptions<SqlitePoolOptions>>().Value;
host.Services.GetRequiredService<ILoggerFactory>().CreateLogger("SqlitePool.Silo").LogInformation(
    "SqlitePool silo '{Node}' ready: data root {DataRoot}, gateway port {GatewayPort}, silo port {SiloPort}, cluster '{ClusterId}', membership {Membership}",
    host.Services.GetRequiredService<ILocalSiloDetails>().Name, Path.GetFullPath(pool.DataRoot), silo.GatewayPort, silo.SiloPort, silo.ClusterId, silo.Membership);
await host.WaitForShutdownAsync();
