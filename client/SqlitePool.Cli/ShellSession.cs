using System.Text.RegularExpressions;
using SqlitePool.Client;

namespace SqlitePool.Cli;

/// <summary>
/// The interactive shell. On a terminal it prompts and prints tables; with redirected input it reads one
/// statement per line and prints exactly one line per statement (with <c>--format json</c>).
/// </summary>
/// <remarks><c>BEGIN</c> takes a writer lease and runs every statement on it until <c>COMMIT</c>, <c>END</c> or
/// <c>ROLLBACK</c>; leaving the shell (or the process dying) with the transaction open rolls it back.</remarks>
internal sealed partial class ShellSession(SqliteDatabase database, string format, TextReader input, TextWriter output)
{
    private static readonly string[] QueryKeywords = ["SELECT", "WITH", "VALUES", "EXPLAIN"];
    private DatabaseLease? _transaction;

    public async Task RunAsync(bool interactive, CancellationToken cancellationToken)
    {
        try
        {
            await ReadLinesAsync(interactive, cancellationToken);
        }
        finally
        {
            if (_transaction is { } open)
            {
                await open.DisposeAsync();
            }
        }
    }

    private async Task ReadLinesAsync(bool interactive, CancellationToken cancellationToken)
    {
        if (interactive)
        {
            output.WriteLine($"Connected to {database.Id}. One statement per line; .exit leaves.");
        }

        while (!cancellationToken.IsCancellationRequested)
        {
            if (interactive)
            {
                output.Write(_transaction is null ? "sqlitepool> " : "sqlitepool*> ");
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
            var keyword = SqlText.LeadingKeyword(sql);
            var begins = _transaction is null && keyword == "BEGIN";
            if (begins)
            {
                _transaction = await database.AcquireWriterAsync(cancellationToken);
            }

            if (_transaction is { } transaction)
            {
                return await RunInTransactionAsync(transaction, statement, keyword, begins, cancellationToken);
            }

            if (QueryKeywords.Contains(keyword))
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

    private async Task<string> RunInTransactionAsync(DatabaseLease transaction, Statement statement, string keyword, bool begins, CancellationToken cancellationToken)
    {
        var ends = keyword is "COMMIT" or "END" || (keyword == "ROLLBACK" && !RollbackToSavepoint().IsMatch(statement.Sql));
        try
        {
            var result = await transaction.ExecuteAsync(statement, cancellationToken);
            if (ends)
            {
                await EndTransactionAsync();
            }

            return result.Rows is { } rows ? FormatRows(rows) : Format(result);
        }
        catch (LeaseNotFoundException)
        {
            // Expired or revoked: its transaction is gone; the shell is back in autocommit.
            _transaction = null;
            throw;
        }
        catch (SqlStatementException ex) when (begins || (ends && ex.Message.Contains("no transaction is active", StringComparison.Ordinal)))
        {
            await EndTransactionAsync();
            throw;
        }
    }

    private async Task EndTransactionAsync()
    {
        if (_transaction is { } transaction)
        {
            _transaction = null;
            await transaction.DisposeAsync();
        }
    }

    [GeneratedRegex(@"^\s*ROLLBACK\s+(TRANSACTION\s+)?TO\b", RegexOptions.IgnoreCase)]
    private static partial Regex RollbackToSavepoint();

    private string FormatRows(QueryResult rows) => format switch
    {
        "json" => OutputFormatter.ColumnsRowsJson(rows),
        "csv" => OutputFormatter.Csv(rows),
        _ => OutputFormatter.Table(rows),
    };

    private string Format(ExecuteResult result) => OutputFormatter.ExecuteJson(result);
}
