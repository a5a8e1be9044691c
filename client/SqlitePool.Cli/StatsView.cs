using System.Text.Json;
using System.Text.Json.Serialization;
using SqlitePool.Client;

namespace SqlitePool.Cli;

/// <summary>What <c>sqlitepool stats</c> prints: one database's statistics, or every open database of the cluster.</summary>
internal static class StatsView
{
    public static readonly JsonSerializerOptions JsonOptions = new(JsonSerializerDefaults.Web)
    {
        WriteIndented = true,
        Converters = { new JsonStringEnumConverter(), new LeaseIdJsonConverter() },
    };

    /// <summary>One row per open database: where it is, its connections, waiters, leases and WAL.</summary>
    public static string Table(IReadOnlyList<NodeDatabases> nodes)
    {
        string[] columns = ["node", "database", "readers busy/idle/max", "writer", "waiting r/w/x", "leases", "reads", "writes", "commits", "wal"];
        var values = new List<object?>();
        foreach (var node in nodes)
        {
            if (node.Error is not null)
            {
                values.AddRange([node.Node, "(no answer: " + node.Error + ")", null, null, null, null, null, null, null, null]);
                continue;
            }

            foreach (var db in node.Databases)
            {
                var writer = db.ExclusiveHeld ? "exclusive" : db.Leases.FirstOrDefault(l => l.Kind == LeaseKind.Writer) is { } lease ? "leased by " + lease.Holder : db.WriterBusy ? "busy" : "idle";
                values.AddRange([
                    node.Node, DatabaseId.FromGrainKey(db.Database).Path, $"{db.ReadersBusy}/{db.ReadersIdle}/{db.MaxReaders}", writer,
                    $"{db.ReaderWaiters}/{db.WriterWaiters}/{db.ExclusiveWaiters}", (long)db.Leases.Length, db.Reads, db.Writes, db.Commits, Bytes(db.WalBytes),
                ]);
            }
        }

        return values.Count == 0 ? "No database is open in the cluster." : OutputFormatter.Table(new QueryResult(columns, [.. values]));
    }

    public static string Json(object value) => JsonSerializer.Serialize(value, JsonOptions);

    private static string Bytes(long bytes) => bytes switch
    {
        < 1024 => $"{bytes} B",
        < 1024 * 1024 => $"{bytes / 1024.0:0.#} KiB",
        _ => $"{bytes / (1024.0 * 1024.0):0.#} MiB",
    };
}
