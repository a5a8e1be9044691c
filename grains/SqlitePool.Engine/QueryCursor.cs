using Microsoft.Data.Sqlite;
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
    private Exception? _failed;
    private volatile Exception? _stepFailure;
    private string[]? _columns;

    internal QueryCursor(DatabasePool pool, PooledConnection reader, sqlite3_stmt stmt, string sql)
    {
        _pool = pool;
        _reader = reader;
        _stmt = stmt;
        _sql = sql;
        OpenedAt = pool.Now;
    }

    /// <summary>When its snapshot began.</summary>
    public DateTimeOffset OpenedAt { get; }

    /// <summary>The result's column names, known once the first batch has been read (empty before): the first step
    /// prepares the statement again if the schema changed since it was opened.</summary>
    public string[] Columns => Volatile.Read(ref _columns) ?? [];

    /// <summary>The next rows (at most <paramref name="maxRows"/>), or null after the last. Once a read has failed,
    /// every later read fails with its error: stepping the statement again would start it over from its first row.</summary>
    public async Task<QueryResult?> ReadAsync(int maxRows, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxRows, 1);
        ThrowIfDisposed();

        if (_failed is { } failed)
        {
            throw failed;
        }

        if (_done)
        {
            return null;
        }

        _pool.CountStatement(LeaseKind.Reader);
        var read = new WorkItem<QueryResult?>(ReadBatch, cancellationToken) { LeavesStatementRunning = true };
        _reader.Worker.Post(read);
        try
        {
            return await read.Task.ConfigureAwait(false);
        }
        catch (Exception ex) when (_stepFailure is not null)
        {
            // As its caller saw it (a deadline's interrupt becomes a timeout error).
            _failed ??= ex;
            throw;
        }

        QueryResult? ReadBatch(SqliteConnection connection)
        {
            // Checked again on the reader's thread: a dispose may have ended the cursor (and given the reader to someone
            // else) since this read was sent.
            ThrowIfDisposed();
            if (_stepFailure is { } earlier)
            {
                throw earlier;
            }

            try
            {
                var batch = StatementRunner.StepBatch(connection.Handle!, _stmt, ref _columns, maxRows, _sql, out var done);
                _done = done;
                return batch;
            }
            catch (Exception ex)
            {
                _stepFailure = ex;
                throw;
            }
        }
    }

    private void ThrowIfDisposed()
    {
        if (Volatile.Read(ref _disposed) != 0)
        {
            throw _ended ?? (_pool.IsClosed ? new DatabaseClosedException(_pool.Database) : new ObjectDisposedException(nameof(QueryCursor)));
        }
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
