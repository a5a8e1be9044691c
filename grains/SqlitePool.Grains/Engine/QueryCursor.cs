using SQLitePCL;

namespace SqlitePool.Engine;

/// <summary>
/// A read stepped in batches on a reader it holds until disposed: all batches come from one snapshot, and
/// no more than one batch is in memory on the silo at a time.
/// </summary>
public sealed class QueryCursor : IAsyncDisposable
{
    private readonly DatabasePool _pool;
    private readonly PooledConnection _reader;
    private readonly sqlite3_stmt _stmt;
    private readonly string _sql;
    private int _disposed;
    private bool _done;
    private Exception? _ended;

    internal QueryCursor(DatabasePool pool, PooledConnection reader, sqlite3_stmt stmt, string sql)
    {
        _pool = pool;
        _reader = reader;
        _stmt = stmt;
        _sql = sql;
        Columns = StatementShape.ColumnNames(stmt);
        OpenedAt = pool.Now;
    }

    /// <summary>When its snapshot began.</summary>
    public DateTimeOffset OpenedAt { get; }

    /// <summary>The result's column names.</summary>
    public string[] Columns { get; }

    /// <summary>The next rows (at most <paramref name="maxRows"/>), or null after the last.</summary>
    public Task<QueryResult?> ReadAsync(int maxRows, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxRows, 1);
        if (_disposed != 0)
        {
            throw _ended ?? (_pool.IsClosed ? new DatabaseClosedException(_pool.Database) : new ObjectDisposedException(nameof(QueryCursor)));
        }

        if (_done)
        {
            return Task.FromResult<QueryResult?>(null);
        }

        _pool.CountStatement(LeaseKind.Reader);
        return _reader.Worker.RunAsync(c =>
        {
            var batch = StatementRunner.StepBatch(c.Handle!, _stmt, Columns, maxRows, _sql, out var done);
            _done = done;
            return batch;
        }, cancellationToken);
    }

    /// <summary>Ends the cursor for its owner: its snapshot is released and its next read throws <paramref name="error"/>.</summary>
    internal ValueTask EndAsync(Exception error)
    {
        _ended = error;
        return DisposeAsync();
    }

    /// <summary>Finalizes the statement (ending its snapshot) and gives the reader back.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        try
        {
            await _reader.Worker.RunAsync(c =>
            {
                _stmt.Dispose();
                PooledConnection.Reset(c);
                return true;
            }).ConfigureAwait(false);
        }
        finally
        {
            _pool.ForgetCursor(this);
            _pool.ReleaseReader(_reader);
        }
    }
}
