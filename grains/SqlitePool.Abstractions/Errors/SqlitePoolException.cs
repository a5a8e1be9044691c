namespace SqlitePool;

/// <summary>Base of the errors a database pool reports; every subtype crosses the grain boundary with its data.</summary>
[GenerateSerializer, Alias("SqlitePool.SqlitePoolException")]
public class SqlitePoolException : Exception
{
    /// <summary>Creates an exception with a message.</summary>
    public SqlitePoolException(string message)
        : base(message)
    {
    }

    /// <summary>Creates an exception with a message and its cause.</summary>
    public SqlitePoolException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }
}
