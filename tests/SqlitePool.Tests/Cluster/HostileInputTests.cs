using SqlitePool.Client;

namespace SqlitePool.Tests.Cluster;

/// <summary>
/// A corpus of hostile input (SQL, parameters, sizes, encodings, paths): each case gets a typed error or a
/// correct result, no file outside the data root appears or changes, and the database works after each.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class HostileInputTests(ClusterFixture cluster)
{
    private static readonly string Outside = Path.Combine(Path.GetTempPath(), "sqlitepool-hostile-outside.db");

    public static TheoryData<string> Cases => [.. Corpus().Keys];

    [Theory]
    [MemberData(nameof(Cases), DisableDiscoveryEnumeration = true)]
    public async Task Hostile_input_gets_a_typed_error_or_a_correct_result_and_the_database_keeps_working(string name)
    {
        var db = cluster.Database("hostile/shared.db");
        await db.ExecuteAsync("CREATE TABLE IF NOT EXISTS t(id INTEGER PRIMARY KEY, v)");
        var before = await db.QuerySingleAsync<long>("SELECT count(*) FROM t");

        try
        {
            await Corpus()[name](db);
        }
        catch (Exception ex) when (ex is SqlitePoolException or DatabaseTimeoutException or ArgumentException)
        {
            // A typed refusal is a correct answer to hostile input.
        }

        Assert.Equal(["data"], Directory.GetFileSystemEntries(cluster.Sandbox).Select(Path.GetFileName));
        Assert.False(File.Exists(Outside), "a file outside the data root was created");
        Assert.Equal("ok", await db.QuerySingleAsync<string>("PRAGMA quick_check"));
        Assert.Equal("wal", (await db.ExecuteAsync("PRAGMA journal_mode")).Rows![0, 0]);
        Assert.True(await db.QuerySingleAsync<long>("SELECT count(*) FROM t") >= before);
        Assert.Empty((await db.GetStatisticsAsync()).Leases);
    }

    private static Dictionary<string, Func<SqliteDatabase, Task>> Corpus()
    {
        var cases = new Dictionary<string, Func<SqliteDatabase, Task>>();
        void Exec(string name, string sql, params object?[] args) => cases["exec: " + name] = db => db.ExecuteAsync(sql, args);
        void Query(string name, string sql, params object?[] args) => cases["query: " + name] = db => db.QueryAsync(sql, args);
        void Both(string name, string sql)
        {
            Exec(name, sql);
            Query(name, sql);
        }

        // SQL that is broken, empty or hostile.
        Both("empty", "");
        Both("blank", "   \n\t ");
        Both("semicolons", ";;;");
        Both("comment only", "-- nothing");
        Both("unterminated comment", "SELECT 1 /* never closed");
        Both("unterminated string", "SELECT 'open");
        Both("typo", "SELEC 1");
        Both("missing table", "SELECT * FROM missing");
        Both("NUL inside", "SELECT 1\0; DROP TABLE t");
        Both("deep nesting", "SELECT " + new string('(', 5000) + "1" + new string(')', 5000));
        Both("huge IN list", "SELECT 1 IN (" + string.Join(',', Enumerable.Range(0, 50_000)) + ")");
        Both("2000 columns", "SELECT " + string.Join(',', Enumerable.Range(0, 2000)));
        Both("1 MB of SQL", "SELECT '" + new string('x', 1 << 20) + "'");
        Both("zeroblob 50 MB", "SELECT length(zeroblob(50000000))");
        Both("division by zero", "SELECT 1 / 0");
        Both("integer overflow", "SELECT 9223372036854775807 + 1");
        Both("sum overflow", "SELECT sum(x) FROM (SELECT 9223372036854775807 AS x UNION ALL SELECT 1)");
        Both("bounded recursion", "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 100000) SELECT count(*) FROM c");
        Both("random blob", "SELECT randomblob(1000000)");
        Both("printf width", "SELECT printf('%.*c', 100000000, 'x')");
        Both("unicode identifiers", "SELECT 1 AS \"é😀\u0000x\"");
        Both("reserved names", "SELECT * FROM sqlite_master");

        // Transaction control and attachments.
        foreach (var sql in new[] { "BEGIN", "BEGIN IMMEDIATE", "COMMIT", "ROLLBACK", "END", "SAVEPOINT s", "RELEASE s", "ROLLBACK TO s", "BEGIN; INSERT INTO t(v) VALUES (1)" })
        {
            Both(sql, sql);
        }

        foreach (var target in new[] { Outside, "../escape.db", "../../escape.db", $"file:{Outside}?mode=rwc", "/etc/passwd", "data/../../x.db" })
        {
            Both("attach " + target, $"ATTACH '{target}' AS x");
        }

        Exec("attach by parameter", "ATTACH ? AS x", Outside);
        Both("detach main", "DETACH main");
        Both("load_extension", "SELECT load_extension('/tmp/libevil.so')");

        // Pragmas that would break the pool or move files.
        foreach (var pragma in new[] { "journal_mode = DELETE", "journal_mode = MEMORY", "journal_mode = OFF", "locking_mode = EXCLUSIVE", "query_only = 0", "query_only = 1", "writable_schema = ON", "temp_store_directory = '/tmp'", "data_store_directory = '/tmp'" })
        {
            Both("pragma " + pragma, "PRAGMA " + pragma);
        }

        // Several statements where one is expected on the read path.
        Query("select then delete", "SELECT 1; DELETE FROM t");
        Query("select then drop", "SELECT 1; DROP TABLE t");
        Query("cte insert", "WITH x(v) AS (SELECT 1) INSERT INTO t(v) SELECT v FROM x");
        Query("create temp table", "CREATE TEMP TABLE tmp(a)");
        Query("vacuum", "VACUUM");

        // Parameters: counts, names and values.
        Exec("missing positional", "INSERT INTO t(v) VALUES (?)");
        Exec("surplus positional", "INSERT INTO t(v) VALUES (?)", 1, 2);
        Exec("parameter number too high", "SELECT ?40000", 1);
        Exec("missing named", "INSERT INTO t(v) VALUES ($v)");
        cases["exec: named empty name"] = db => db.ExecuteAsync(new Statement("SELECT $v", new Dictionary<string, object?> { [""] = 1 }));
        cases["exec: named with spaces"] = db => db.ExecuteAsync(new Statement("SELECT $v", new Dictionary<string, object?> { ["v w"] = 1 }));
        cases["exec: named unicode"] = db => db.ExecuteAsync(new Statement("SELECT $é", new Dictionary<string, object?> { ["é"] = 1 }));
        cases["exec: named null value"] = db => db.ExecuteAsync(new Statement("INSERT INTO t(v) VALUES (:v)", new Dictionary<string, object?> { ["v"] = null }));
        object?[] values =
        [
            double.NaN, double.PositiveInfinity, double.NegativeInfinity, -0.0, double.Epsilon, long.MinValue, long.MaxValue,
            decimal.MaxValue, DateTime.MinValue, DateTimeOffset.MaxValue, Guid.Empty, true, '\0', "", "\0", "\ud800", "\udfff x \ud800",
            "😀", new string('\u00e9', 100_000), Array.Empty<byte>(), new byte[16 << 20], new string('y', 16 << 20), TimeSpan.MaxValue,
            DateOnly.MinValue, TimeOnly.MaxValue, (byte)255, (sbyte)-1, ushort.MaxValue, uint.MaxValue, ulong.MaxValue, float.NaN,
            new object(), new object?[] { 1 }, new Dictionary<string, int>(), CancellationToken.None, DayOfWeek.Friday,
        ];
        foreach (var value in values)
        {
            var label = value switch
            {
                string s => $"string({s.Length})#{s.GetHashCode():x}",
                byte[] b => $"blob({b.Length})",
                null => "null",
                _ => $"{value.GetType().Name}:{value}",
            };
            cases[$"value {label}"] = async db =>
            {
                var id = (await db.ExecuteAsync("INSERT INTO t(v) VALUES (?)", value)).LastInsertRowId;
                var stored = await db.QuerySingleAsync<object?>("SELECT v FROM t WHERE id = ?", id);
                if (value is byte[] or long)
                {
                    Assert.Equal(value, stored);
                }
                else if (value is string text && !text.Any(char.IsSurrogate))
                {
                    Assert.Equal(text, stored);
                }
            };
        }

        // Paths given to the client library.
        foreach (var path in new[] { "../x.db", "/abs.db", "a//b.db", "./a.db", "a/../a.db", "a\\b.db", "c:x.db", "x.db-wal", "x.db.lock", "\ud800.db", "\0.db", new string('p', 300) })
        {
            cases[$"path {path.Replace("\0", "\\0")}"] = db =>
            {
                Assert.Throws<InvalidDatabasePathException>(() => new DatabaseId(db.Id.Node, path));
                return Task.CompletedTask;
            };
        }

        return cases;
    }
}
