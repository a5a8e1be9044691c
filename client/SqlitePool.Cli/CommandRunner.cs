using Orleans.Runtime;
using Orleans.Runtime.Messaging;
using SqlitePool.Client;

namespace SqlitePool.Cli;

/// <summary>Connects, runs one command against a database and maps every failure to an exit code.</summary>
internal static class CommandRunner
{
    public static async Task<int> RunAsync(string gateway, string? redis, string clusterId, TimeSpan connectTimeout, string database, SqliteDatabaseCommand command, CancellationToken cancellationToken)
    {
        try
        {
            var id = DatabaseId.Parse(database);
            ClusterConnection connection;
            try
            {
                connection = await ClusterConnection.ConnectAsync(gateway, redis, clusterId, connectTimeout, cancellationToken);
            }
            catch (Exception ex) when (ex is not UsageException and not OperationCanceledException)
            {
                return Fail(ExitCodes.Unavailable, $"Cannot connect to the cluster at {redis ?? gateway}: {ex.Message}");
            }

            await using (connection)
            {
                await command(connection.Client.GetDatabase(id), cancellationToken);
            }

            return ExitCodes.Ok;
        }
        catch (Exception ex)
        {
            return Fail(ExitCode(ex), Describe(ex));
        }
    }

    public static int ExitCode(Exception error) => error switch
    {
        UsageException => ExitCodes.Usage,
        DatabaseNodeUnavailableException or GatewayUnreachableException or SiloUnavailableException
            or ConnectionFailedException or OrleansMessageRejectionException => ExitCodes.Unavailable,
        TimeoutException and not DatabaseTimeoutException => ExitCodes.Unavailable,
        _ => ExitCodes.RequestError,
    };

    public static string Describe(Exception error) => error switch
    {
        SqlStatementException sql => $"{sql.Message} (SQLite code {sql.ErrorCode}, extended {sql.ExtendedErrorCode})",
        SqlitePoolException or TimeoutException => error.Message,
        // Orleans messages can carry a stack trace after the first line; the first line says what failed.
        _ => error.Message.Split('\n', 2)[0].TrimEnd(),
    };

    public static int ErrorCode(Exception error) => error is SqlStatementException sql ? sql.ErrorCode : 1;

    private static int Fail(int code, string message)
    {
        Console.Error.WriteLine($"error: {message}");
        return code;
    }
}
