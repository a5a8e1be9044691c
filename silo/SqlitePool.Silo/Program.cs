using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using Orleans.Dashboard;
using SqlitePool.Hosting;
using SqlitePool.Silo;

args = SiloBackup.ExpandFlags(args);
var builder = WebApplication.CreateBuilder(new WebApplicationOptions
{
    Args = args,
    // appsettings.json ships beside the binary; the data root stays relative to the working directory.
    ContentRootPath = AppContext.BaseDirectory,
});

// Watching files for configuration reloads costs CPU that SQLite needs: settings are read once at start.
builder.Configuration.Sources.Clear();
builder.Configuration
    .AddJsonFile(Path.Combine(AppContext.BaseDirectory, "appsettings.json"), optional: true, reloadOnChange: false)
    .AddEnvironmentVariables()
    .AddCommandLine(args, SiloSettings.SwitchMappings);

var silo = SiloSettings.Read(builder.Configuration);
if (silo.Kubernetes)
{
    // Kubernetes hosting names the silo after its pod; that name is the node name.
    builder.Configuration[$"{SqlitePoolOptions.SectionName}:NodeName"] = "";
}

builder.WebHost.UseKestrel(kestrel => kestrel.ListenAnyIP(silo.HttpPort));
builder.UseOrleans(orleans =>
{
    SiloClustering.Configure(orleans, silo);
    orleans.Configure<ClusterMembershipOptions>(builder.Configuration.GetSection("Silo:Membership"));
    orleans.AddSqlitePool(builder.Configuration.GetSection(SqlitePoolOptions.SectionName));
    SiloBackup.Configure(orleans.Services, builder.Configuration);
    if (silo.Dashboard)
    {
        // The dashboard profiles every grain call (a call filter): Silo:Dashboard=false saves that cost.
        orleans.AddDashboard();
    }
});
SiloWeb.AddServices(builder.Services, silo);

var app = builder.Build();
SiloWeb.Map(app, silo);
await app.StartAsync();

var pool = app.Services.GetRequiredService<IOptions<SqlitePoolOptions>>().Value;
var http = string.Join(", ", app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses ?? []);
app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("SqlitePool.Silo").LogInformation(
    "SqlitePool silo '{Node}' ready: data root {DataRoot}, gateway port {GatewayPort}, silo port {SiloPort}, cluster '{ClusterId}', membership {Membership}; http {Http} (/databases, /dashboard, /health, /api/databases)",
    app.Services.GetRequiredService<ILocalSiloDetails>().Name, Path.GetFullPath(pool.DataRoot), silo.GatewayPort, silo.SiloPort, silo.ClusterId, silo.Membership, http);
await app.WaitForShutdownAsync();
