using Orleans.Runtime;
using Orleans.Runtime.Messaging;
using SqlitePool.Client;

namespace SqlitePool.Cli;

/// <summary>Connects, runs one command against a database and maps every failure to an exit code.</summary>
internal static class CommandRunner
{
    public static Task<int> RunAsync(string gateway, string? redis, string clusterId, TimeSpan connectTimeout, string database, SqliteDatabaseCommand command, CancellationToken cancellationToken)
    {
        DatabaseId id;
        try
        {
            // A bad database id is reported before connecting.
            id = DatabaseId.Parse(database);
        }
        catch (Exception ex)
        {
            return Task.FromResult(Fail(ExitCode(ex), Describe(ex)));
        }

        return RunOnClusterAsync(gateway, redis, clusterId, connectTimeout, (client, ct) => command(client.GetDatabase(id), ct), cancellationToken);
    }

    /// <summary>Connects, runs a command that needs the cluster rather than one database, and maps failures to exit codes.</summary>
    public static async Task<int> RunOnClusterAsync(string gateway, string? redis, string clusterId, TimeSpan connectTimeout, Func<IClusterClient, CancellationToken, Task> command, CancellationToken cancellationToken)
    {
        try
        {
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
                await command(connection.Client, cancellationToken);
            }

            return ExitCodes.Ok;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Ctrl+C ends a watch: a normal end.
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
