using System.Text.Json;

namespace SqlitePool.Tests.Process;

/// <summary>The sqlitepool CLI against the silo host, both as real processes.</summary>
public sealed class CliTests(SiloProcessFixture silo) : IClassFixture<SiloProcessFixture>
{
    private Task<CliResult> Cli(params string[] args) => ProcessRunner.RunCliAsync([.. args, .. silo.Connection]);

    private static string NewDb() => $"cli/{Guid.NewGuid():N}.db";

    [Fact]
    public async Task Exec_query_and_stats_round_trip_values_in_every_format()
    {
        var db = NewDb();
        Assert.Equal(0, (await Cli("exec", db, "CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, n REAL, b BLOB)")).ExitCode);

        var insert = await Cli("exec", db, "INSERT INTO t(name, n, b) VALUES (?, ?, ?)", "héllo, \"wörld\"", "1.5", "x'00ff'");
        var named = await Cli("exec", db, "INSERT INTO t(name, n) VALUES ($a, @b)", "--param", "a=named", "--param", "b=7");
        var json = await Cli("query", db, "SELECT name, n, b, 2 AS i FROM t ORDER BY id", "--format", "json");
        var table = await Cli("query", db, "SELECT name, n FROM t ORDER BY id");
        var csv = await Cli("query", db, "SELECT name, n FROM t ORDER BY id", "--format", "csv");
        var stats = await Cli("stats", db);

        Assert.Equal("{\"changes\":1,\"lastInsertRowId\":1,\"txid\":2}", insert.Stdout);
        Assert.Equal("{\"changes\":1,\"lastInsertRowId\":2,\"txid\":3}", named.Stdout);
        Assert.Equal("[{\"name\":\"héllo, \\\"wörld\\\"\",\"n\":1.5,\"b\":\"AP8=\",\"i\":2},{\"name\":\"named\",\"n\":7.0,\"b\":null,\"i\":2}]", json.Stdout);
        Assert.Contains("héllo, \"wörld\" | 1.5", table.Stdout, StringComparison.Ordinal);
        Assert.EndsWith("(2 rows)", table.Stdout, StringComparison.Ordinal);
        Assert.Equal("name,n\n\"héllo, \"\"wörld\"\"\",1.5\nnamed,7.0", csv.Stdout);
        using var parsed = JsonDocument.Parse(stats.Stdout);
        Assert.Equal("local/" + db, parsed.RootElement.GetProperty("database").GetString());
        Assert.True(parsed.RootElement.GetProperty("writes").GetInt64() >= 3);
        Assert.True(File.Exists(Path.Combine(silo.DataRoot, db)));
    }

    [Fact]
    public async Task Backup_and_restore_copy_a_database_into_new_keys_and_refuse_existing_ones()
    {
        var (db, backup, restored) = (NewDb(), NewDb(), NewDb());
        Assert.Equal(0, (await Cli("exec", db, "CREATE TABLE t(v)")).ExitCode);
        Assert.Equal(0, (await Cli("exec", db, "INSERT INTO t VALUES ('kept')")).ExitCode);

        var made = await Cli("backup", db, backup);
        var again = await Cli("backup", db, backup);
        var back = await Cli("restore", backup, restored);

        Assert.Equal(0, made.ExitCode);
        Assert.Matches($"^{{\"source\":\"local/{db}\",\"destination\":\"local/{backup}\",\"bytes\":[1-9][0-9]*}}$", made.Stdout);
        Assert.Equal(1, again.ExitCode);
        Assert.Contains("already exists", again.Stderr, StringComparison.Ordinal);
        Assert.Equal(0, back.ExitCode);
        Assert.Equal("[{\"v\":\"kept\"}]", (await Cli("query", restored, "SELECT v FROM t", "--format", "json")).Stdout);
    }

    [Fact]
    public async Task Piped_shell_prints_one_json_line_per_statement_and_goes_on_after_errors()
    {
        var db = NewDb();
        var input = "CREATE TABLE t(v)\nSELECT 1 AS a, 2.0 AS b, NULL AS c, x'01' AS d\nSELEC x\n\nINSERT INTO t VALUES ('p')\nWITH x(v) AS (SELECT 5) INSERT INTO t SELECT v FROM x\nSELECT v FROM t\n.exit\nSELECT 'not reached'\n";

        var result = await ProcessRunner.RunCliAsync(["shell", db, "--format", "json", .. silo.Connection], input);

        Assert.Equal(0, result.ExitCode);
        Assert.Equal(
        [
            "{\"changes\":0,\"lastInsertRowId\":0,\"txid\":1}",
            "{\"columns\":[\"a\",\"b\",\"c\",\"d\"],\"rows\":[[1,2.0,null,\"AQ==\"]]}",
            "{\"error\":\"SQLite Error 1: 'near \\\"SELEC\\\": syntax error'. (SQLite code 1, extended 1)\",\"code\":1}",
            "{\"changes\":1,\"lastInsertRowId\":1,\"txid\":2}",
            "{\"changes\":1,\"lastInsertRowId\":2,\"txid\":3}",
            "{\"columns\":[\"v\"],\"rows\":[[\"p\"],[5]]}",
        ], result.Stdout.Split('\n'));
    }

    [Fact]
    public async Task Shell_transactions_hold_a_writer_lease_from_begin_to_commit_or_rollback()
    {
        var db = NewDb();
        var input = "CREATE TABLE t(v)\nBEGIN\nINSERT INTO t VALUES ('undone')\nROLLBACK\nBEGIN IMMEDIATE\nINSERT INTO t VALUES ('kept')\nSAVEPOINT s\nINSERT INTO t VALUES ('inner')\nROLLBACK TO s\nCOMMIT\nBEGIN\nINSERT INTO t VALUES ('left open')\n.exit\n";
        await ProcessRunner.RunCliAsync(["shell", db, "--format", "json", .. silo.Connection], input);

        var result = await ProcessRunner.RunCliAsync(["query", db, "SELECT v FROM t", "--format", "csv", .. silo.Connection]);

        Assert.Equal(0, result.ExitCode);
        Assert.Equal(["v", "kept"], result.Stdout.Split('\n'));
    }

    [Fact]
    public async Task Batch_runs_a_file_in_one_transaction()
    {
        var db = NewDb();
        var good = Path.Combine(silo.WorkingDirectory, $"{Guid.NewGuid():N}.sql");
        var bad = Path.Combine(silo.WorkingDirectory, $"{Guid.NewGuid():N}.sql");
        await File.WriteAllTextAsync(good, "CREATE TABLE t(id INTEGER PRIMARY KEY);\nINSERT INTO t VALUES (1);\n-- a comment; with a semicolon\nINSERT INTO t VALUES (2);\n", TestContext.Current.CancellationToken);
        await File.WriteAllTextAsync(bad, "INSERT INTO t VALUES (3);\nINSERT INTO t VALUES (1);\n", TestContext.Current.CancellationToken);

        var ok = await Cli("batch", db, good);
        var failed = await Cli("batch", db, bad);
        var rows = await Cli("query", db, "SELECT group_concat(id) AS ids FROM t", "--format", "json");

        Assert.Equal((0, "{\"changes\":2,\"lastInsertRowId\":2,\"txid\":1}"), (ok.ExitCode, ok.Stdout));
        Assert.Equal(1, failed.ExitCode);
        Assert.Contains("SQLite code 19", failed.Stderr, StringComparison.Ordinal);
        Assert.Equal("[{\"ids\":\"1,2\"}]", rows.Stdout);
    }

    [Fact]
    public async Task A_batch_file_that_commits_midway_is_refused_and_writes_nothing()
    {
        var db = NewDb();
        var file = Path.Combine(silo.WorkingDirectory, $"{Guid.NewGuid():N}.sql");
        await File.WriteAllTextAsync(file, "INSERT INTO t VALUES (1);\nCOMMIT;\nINSERT INTO nosuch VALUES (2);\n", TestContext.Current.CancellationToken);
        await Cli("exec", db, "CREATE TABLE t(v)");

        var failed = await Cli("batch", db, file);
        var count = await Cli("query", db, "SELECT count(*) AS n FROM t", "--format", "json");

        Assert.Equal(1, failed.ExitCode);
        Assert.Contains("COMMIT", failed.Stderr, StringComparison.Ordinal);
        Assert.Equal("[{\"n\":0}]", count.Stdout);
    }

    [Fact]
    public async Task Sql_and_request_errors_exit_1_with_the_sqlite_code_on_stderr()
    {
        var db = NewDb();
        await Cli("exec", db, "CREATE TABLE t(v)");

        var write = await Cli("query", db, "INSERT INTO t VALUES (1)");
        var syntax = await Cli("query", db, "SELEC 1");
        var escape = await Cli("exec", "../escape.db", "CREATE TABLE x(a)");

        Assert.Equal((1, ""), (write.ExitCode, write.Stdout));
        Assert.Contains("use ExecuteAsync", write.Stderr, StringComparison.Ordinal);
        Assert.Contains("SQLite code 8", write.Stderr, StringComparison.Ordinal);
        Assert.Equal(1, syntax.ExitCode);
        Assert.Contains("SQLite code 1", syntax.Stderr, StringComparison.Ordinal);
        Assert.Equal(1, escape.ExitCode);
        Assert.Contains("Invalid database path", escape.Stderr, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(silo.WorkingDirectory, "escape.db")));
    }

    [Theory]
    [InlineData("query", "x.db", "SELECT 1", "--format", "xml")]
    [InlineData("exec", "x.db", "SELECT ?", "x'0'")]
    [InlineData("exec", "x.db", "SELECT $a", "--param", "novalue")]
    [InlineData("query", "x.db")]
    [InlineData("frobnicate")]
    public async Task Usage_errors_exit_2(params string[] args)
    {
        var result = await Cli(args);

        Assert.Equal(2, result.ExitCode);
        Assert.NotEmpty(result.Stderr);
    }

    [Fact]
    public async Task A_second_silo_process_on_the_same_data_root_refuses_to_open_a_database_the_first_owns()
    {
        var db = NewDb();
        await Cli("exec", db, "CREATE TABLE t(v)");
        var gateway = ServerProcess.FreePort();
        var clusterId = "second-" + Guid.NewGuid().ToString("N")[..8];
        await using var second = await ServerProcess.StartSiloAsync(silo.WorkingDirectory,
            ["--gateway-port", gateway.ToString(), "--silo-port", ServerProcess.FreePort().ToString(), "--cluster-id", clusterId]);

        var refused = await ProcessRunner.RunCliAsync(["exec", db, "INSERT INTO t VALUES (1)", "--gateway", $"127.0.0.1:{gateway}", "--cluster-id", clusterId]);
        var owner = await Cli("query", db, "SELECT count(*) AS n FROM t", "--format", "json");

        Assert.Equal(1, refused.ExitCode);
        Assert.Contains("already open in another activation or process", refused.Stderr, StringComparison.Ordinal);
        Assert.Equal("[{\"n\":0}]", owner.Stdout);
    }

    [Fact]
    public async Task An_unreachable_gateway_exits_3()
    {
        var result = await ProcessRunner.RunCliAsync(["query", "x.db", "SELECT 1", "--gateway", "127.0.0.1:9", "--connect-timeout", "1"]);

        Assert.Equal(3, result.ExitCode);
        Assert.Contains("127.0.0.1:9", result.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_database_on_another_node_exits_3()
    {
        var result = await Cli("query", "node-z:x.db", "SELECT 1");

        Assert.Equal(3, result.ExitCode);
        Assert.Contains("node-z", result.Stderr, StringComparison.Ordinal);
    }
}
