using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Serialization;
using SqlitePool;
using SqlitePool.Cli;
using SqlitePool.Client;

var gateway = new Option<string>("--gateway") { Description = "Gateway to connect to, HOST:PORT", DefaultValueFactory = _ => "localhost:30000", Recursive = true };
var redis = new Option<string?>("--redis") { Description = "Redis membership store HOST:PORT; finds every gateway (instead of --gateway)", Recursive = true };
var clusterId = new Option<string>("--cluster-id") { Description = "Cluster and service id of the silos", DefaultValueFactory = _ => "sqlitepool", Recursive = true };
var root = new RootCommand("sqlitepool: SQLite databases of an Orleans cluster, from the command line.\nDB is [node:]path (node defaults to 'local').");
var connectTimeout = new Option<double>("--connect-timeout") { Description = "Seconds to wait for the gateway", DefaultValueFactory = _ => 5, Recursive = true };
connectTimeout.Validators.Add(r =>
{
    if (r.GetValueOrDefault<double>() is not > 0)
    {
        r.AddError("--connect-timeout must be more than 0 seconds.");
    }
});
root.Options.Add(gateway);
root.Options.Add(redis);
root.Options.Add(connectTimeout);
root.Options.Add(clusterId);

Argument<string> Db() => new("DB") { Description = "[node:]path of the database" };
Argument<string> Sql() => new("SQL") { Description = "SQL text" };
Argument<string[]> Params() => new("PARAM") { Description = "positional values: integer, real, null, x'hex' blob, else text", Arity = ArgumentArity.ZeroOrMore };
Option<string[]> Named() => new("--param") { Description = "named value NAME=VALUE, binds $NAME, :NAME and @NAME (repeatable)", Arity = ArgumentArity.ZeroOrMore };
Option<string> Format(string defaultFormat)
{
    var option = new Option<string>("--format") { Description = "output format", DefaultValueFactory = _ => defaultFormat };
    option.AcceptOnlyFromAmong("table", "json", "csv");
    return option;
}

Command Add(Command command, Func<ParseResult, SqliteDatabaseCommand> body)
{
    command.SetAction((result, cancellationToken) => CommandRunner.RunAsync(
        result.GetValue(gateway)!, result.GetValue(redis), result.GetValue(clusterId)!, TimeSpan.FromSeconds(result.GetValue(connectTimeout)), result.GetValue<string>("DB")!, body(result), cancellationToken));
    root.Subcommands.Add(command);
    return command;
}

{
    var (db, sql, values, named) = (Db(), Sql(), Params(), Named());
    Add(new Command("exec", "Run a write; prints {\"changes\":N,\"lastInsertRowId\":N,\"txid\":N}") { db, sql, values, named }, r => async (database, ct) =>
    {
        var statement = ValueParser.Statement(r.GetValue(sql)!, r.GetValue(values) ?? [], r.GetValue(named) ?? []);
        Console.WriteLine(OutputFormatter.ExecuteJson(await database.ExecuteAsync(statement, ct)));
    });
}

{
    var (db, sql, values, named, format) = (Db(), Sql(), Params(), Named(), Format("table"));
    Add(new Command("query", "Run a read on a reader connection") { db, sql, values, named, format }, r => async (database, ct) =>
    {
        var statement = ValueParser.Statement(r.GetValue(sql)!, r.GetValue(values) ?? [], r.GetValue(named) ?? []);
        var rows = await database.QueryAsync(statement, ct);
        Console.WriteLine(r.GetValue(format) switch
        {
            "json" => OutputFormatter.RowsJson(rows),
            "csv" => OutputFormatter.Csv(rows),
            _ => OutputFormatter.Table(rows),
        });
    });
}

{
    var (db, file) = (Db(), new Argument<FileInfo>("FILE") { Description = ".sql file; all its statements run in one transaction" });
    Add(new Command("batch", "Run every statement of a .sql file in one transaction") { db, file }, r => async (database, ct) =>
    {
        var path = r.GetValue(file)!;
        if (!path.Exists)
        {
            throw new UsageException($"File '{path.FullName}' does not exist.");
        }

        // SQLite's own parser splits the file: the whole text is one batch entry, run inside one transaction.
        var results = await database.ExecuteBatchAsync([new Statement(await File.ReadAllTextAsync(path.FullName, ct))], ct);
        Console.WriteLine(OutputFormatter.ExecuteJson(results[0]));
    });
}

{
    var db = new Argument<string?>("DB") { Description = "[node:]path of the database; without it, every open database of the cluster", Arity = ArgumentArity.ZeroOrOne };
    var watch = new Option<bool>("--watch") { Description = "refresh until Ctrl+C" };
    var interval = new Option<double>("--interval") { Description = "seconds between refreshes with --watch", DefaultValueFactory = _ => 2 };
    interval.Validators.Add(r =>
    {
        if (r.GetValueOrDefault<double>() is not > 0)
        {
            r.AddError("--interval must be more than 0 seconds.");
        }
    });
    var format = Format("table");
    var stats = new Command("stats", "Pool statistics: of one database as JSON, or of every open database of the cluster (a table, or --format json)") { db, watch, interval, format };
    stats.SetAction((r, cancellationToken) =>
    {
        DatabaseId? id = null;
        try
        {
            // A bad database id is reported before connecting.
            id = r.GetValue(db) is { } text ? DatabaseId.Parse(text) : null;
        }
        catch (InvalidDatabasePathException ex)
        {
            Console.Error.WriteLine($"error: {CommandRunner.Describe(ex)}");
            return Task.FromResult(CommandRunner.ExitCode(ex));
        }

        Func<IClusterClient, Task<string>> render = id is { } one
            ? async client => StatsView.Json(await client.GetDatabase(one).GetStatisticsAsync())
            : async client => r.GetValue(format) == "json" ? StatsView.Json(await client.GetOpenDatabasesAsync()) : StatsView.Table(await client.GetOpenDatabasesAsync());
        return CommandRunner.RunOnClusterAsync(r.GetValue(gateway)!, r.GetValue(redis), r.GetValue(clusterId)!, TimeSpan.FromSeconds(r.GetValue(connectTimeout)), async (client, ct) =>
        {
            Console.WriteLine(await render(client));
            while (r.GetValue(watch))
            {
                await Task.Delay(TimeSpan.FromSeconds(r.GetValue(interval)), ct);
                var text = await render(client);
                if (!Console.IsOutputRedirected)
                {
                    Console.Clear();
                }

                Console.WriteLine($"{DateTimeOffset.Now:HH:mm:ss}");
                Console.WriteLine(text);
            }
        }, cancellationToken);
    });
    root.Subcommands.Add(stats);
}

{
    var (db, destination) = (Db(), new Argument<string>("DEST") { Description = "[node:]path of the new database that receives the copy" });
    Add(new Command("backup", "Copy DB, consistent while writes go on, into the new database DEST (on any node)") { db, destination }, r => async (database, ct) =>
        Console.WriteLine(OutputFormatter.BackupJson(await database.BackupToAsync(DatabaseId.Parse(r.GetValue(destination)!), ct))));
}

{
    var first = new Argument<string>("BACKUP") { Description = "[node:]path of the backup (any database); with --from-backup, the new database" };
    var db = new Argument<string?>("DB") { Description = "[node:]path of the new database (without --from-backup)", Arity = ArgumentArity.ZeroOrOne };
    var fromBackup = new Option<string?>("--from-backup") { Description = "Restore the continuous backup of this [node:]path (it need not exist any more) into the new database" };
    var at = new Option<DateTimeOffset?>("--at") { Description = "With --from-backup: the state after the last commit at or before this ISO-8601 time" };
    var txid = new Option<long?>("--txid") { Description = "With --from-backup: the state after this transaction" };
    var restore = new Command("restore", "Create the new database DB as a copy of BACKUP, or (--from-backup SOURCE [--at TIME | --txid N] NEWDB) from SOURCE's continuous backup") { first, db, fromBackup, at, txid };
    restore.Validators.Add(r =>
    {
        var continuous = r.GetValue(fromBackup) is not null;
        if (continuous && r.GetValue(db) is not null)
        {
            r.AddError("With --from-backup give only the new database: restore --from-backup SOURCE [--at TIME | --txid N] NEWDB.");
        }
        else if (!continuous && r.GetValue(db) is null)
        {
            r.AddError("Give the backup and the new database: restore BACKUP DB (or restore --from-backup SOURCE NEWDB).");
        }
        else if (!continuous && (r.GetValue(at) is not null || r.GetValue(txid) is not null))
        {
            r.AddError("--at and --txid go with --from-backup.");
        }
        else if (r.GetValue(at) is not null && r.GetValue(txid) is not null)
        {
            r.AddError("Give --at or --txid, not both.");
        }
    });
    restore.SetAction((r, cancellationToken) =>
    {
        var (source, target) = r.GetValue(fromBackup) is { } continuous ? (continuous, r.GetValue(first)!) : (r.GetValue(first)!, r.GetValue(db)!);
        SqliteDatabaseCommand body = r.GetValue(fromBackup) is null
            ? async (database, ct) => Console.WriteLine(OutputFormatter.BackupJson(await database.RestoreFromAsync(DatabaseId.Parse(source), ct)))
            : async (database, ct) => Console.WriteLine(OutputFormatter.RestoreJson(
                await database.RestoreFromBackupAsync(DatabaseId.Parse(source), new BackupPoint(r.GetValue(txid), r.GetValue(at)), ct)));
        return CommandRunner.RunAsync(r.GetValue(gateway)!, r.GetValue(redis), r.GetValue(clusterId)!, TimeSpan.FromSeconds(r.GetValue(connectTimeout)), target, body, cancellationToken);
    });
    root.Subcommands.Add(restore);
}

{
    var (db, format) = (Db(), Format("table"));
    Add(new Command("shell", "Interactive SQL; with piped input, one statement per line and one output line each") { db, format }, r => (database, ct) =>
        new ShellSession(database, r.GetValue(format)!, Console.In, Console.Out).RunAsync(!Console.IsInputRedirected, ct));
}

var parsed = root.Parse(args);
if (parsed.Errors.Count > 0)
{
    foreach (var error in parsed.Errors)
    {
        Console.Error.WriteLine($"error: {error.Message}");
    }

    Console.Error.WriteLine("Run 'sqlitepool --help' for usage.");
    return ExitCodes.Usage;
}

return await parsed.InvokeAsync();

namespace SqlitePool.Cli
{
    internal delegate Task SqliteDatabaseCommand(SqlitePool.Client.SqliteDatabase database, CancellationToken cancellationToken);

    internal sealed class LeaseIdJsonConverter : JsonConverter<LeaseId>
    {
        public override LeaseId Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) => new(Guid.Parse(reader.GetString()!));

        public override void Write(Utf8JsonWriter writer, LeaseId value, JsonSerializerOptions options) => writer.WriteStringValue(value.ToString());
    }
}
