using SqlitePool.Client;

namespace SqlitePool.Cli;

/// <summary>
/// The interactive shell. On a terminal it prompts and prints tables; with redirected input it reads one
/// statement per line and prints exactly one line per statement (with <c>--format json</c>).
/// </summary>
internal sealed class ShellSession(SqliteDatabase database, string format, TextReader input, TextWriter output)
{
    private static readonly string[] QueryKeywords = ["SELECT", "WITH", "VALUES", "EXPLAIN"];

    public async Task RunAsync(bool interactive, CancellationToken cancellationToken)
    {
        if (interactive)
        {
            output.WriteLine($"Connected to {database.Id}. One statement per line; .exit leaves.");
        }

        while (!cancellationToken.IsCancellationRequested)
        {
            if (interactive)
            {
                output.Write("sqlitepool> ");
                output.Flush();
            }

            var line = await input.ReadLineAsync(cancellationToken);
            if (line is null || line.Trim() is ".exit" or ".quit")
            {
                return;
            }

            if (SqlText.IsBlank(line))
            {
                continue;
            }

            output.WriteLine(await RunLineAsync(line, cancellationToken));
        }
    }

    private async Task<string> RunLineAsync(string sql, CancellationToken cancellationToken)
    {
        try
        {
            var statement = new Statement(sql);
            if (QueryKeywords.Contains(SqlText.LeadingKeyword(sql)))
            {
                try
                {
                    return FormatRows(await database.QueryAsync(statement, cancellationToken));
                }
                catch (WriteOnReadPathException)
                {
                    // e.g. WITH ... INSERT: refused before anything ran, so run it as a write.
                }
            }

            var result = await database.ExecuteAsync(statement, cancellationToken);
            return result.Rows is { } rows ? FormatRows(rows) : Format(result);
        }
        catch (Exception ex) when (ex is not OperationCanceledException && CommandRunner.ExitCode(ex) != ExitCodes.Unavailable)
        {
            return format == "json"
                ? OutputFormatter.ErrorJson(CommandRunner.Describe(ex), CommandRunner.ErrorCode(ex))
                : $"error: {CommandRunner.Describe(ex)}";
        }
    }

    private string FormatRows(QueryResult rows) => format switch
    {
        "json" => OutputFormatter.ColumnsRowsJson(rows),
        "csv" => OutputFormatter.Csv(rows),
        _ => OutputFormatter.Table(rows),
    };

    private string Format(ExecuteResult result) => OutputFormatter.ExecuteJson(result);
}
