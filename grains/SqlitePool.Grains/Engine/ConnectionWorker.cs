using Microsoft.Data.Sqlite;
using SQLitePCL;

namespace SqlitePool.Engine;

/// <summary>
/// One dedicated thread that owns one SQLite connection and runs the work queued for it in order.
/// Blocking SQLite calls therefore never run on a caller's thread or an Orleans turn.
/// </summary>
internal sealed class ConnectionWorker : IDisposable
{
    // Checked by SQLite every this many virtual-machine steps: a cancellation that lands before a statement
    // starts stepping (when sqlite3_interrupt would be a no-op) still stops it.
    private const int ProgressSteps = 1000;
    private readonly Queue<WorkItem> _queue = new();
    private readonly Thread _thread;
    private readonly delegate_progress _progress;
    private bool _stopping;
    private SqliteConnection? _connection;
    private volatile WorkItem? _current;

    public ConnectionWorker(string name)
    {
        _progress = static state => ((ConnectionWorker)state).OnProgress();
        _thread = new Thread(Loop) { IsBackground = true, Name = name };
        _thread.Start();
    }

    /// <summary>The connection, once the first work item (the open) has set it.</summary>
    public SqliteConnection? ConnectionOrNull => _connection;

    public void SetConnection(SqliteConnection connection)
    {
        _connection = connection;
        raw.sqlite3_progress_handler(connection.Handle, ProgressSteps, _progress, this);
    }

    /// <summary>Queues work for the connection. A cancelled item that has not started never runs; one that
    /// runs is interrupted with <c>sqlite3_interrupt</c>.</summary>
    public Task<T> RunAsync<T>(Func<SqliteConnection, T> work, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var item = new WorkItem<T>(this, work, cancellationToken);
        lock (_queue)
        {
            if (_stopping)
            {
                throw new ObjectDisposedException(_thread.Name, "The connection worker has stopped.");
            }

            _queue.Enqueue(item);
            if (_queue.Count == 1)
            {
                Monitor.Pulse(_queue);
            }
        }

        return item.Task;
    }

    /// <summary>Stops the thread after the queued work has run.</summary>
    public void Dispose()
    {
        lock (_queue)
        {
            _stopping = true;
            Monitor.Pulse(_queue);
        }
    }

    internal void Interrupt()
    {
        if (_connection?.Handle is { } handle)
        {
            raw.sqlite3_interrupt(handle);
        }
    }

    private void Loop()
    {
        while (true)
        {
            WorkItem item;
            lock (_queue)
            {
                while (_queue.Count == 0)
                {
                    if (_stopping)
                    {
                        return;
                    }

                    Monitor.Wait(_queue);
                }

                item = _queue.Dequeue();
            }

            _current = item;
            item.Execute(_connection!);
            _current = null;
        }
    }

    private int OnProgress() => _current?.CancellationRequested == true ? 1 : 0;

    private abstract class WorkItem
    {
        public abstract bool CancellationRequested { get; }

        public abstract void Execute(SqliteConnection connection);
    }

    private sealed class WorkItem<T> : WorkItem
    {
        private const int Queued = 0, Running = 1, Done = 2;
        private readonly ConnectionWorker _worker;
        private readonly Func<SqliteConnection, T> _work;
        private readonly TaskCompletionSource<T> _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly CancellationToken _cancellationToken;
        private CancellationTokenRegistration _registration;
        private int _state;

        public WorkItem(ConnectionWorker worker, Func<SqliteConnection, T> work, CancellationToken cancellationToken)
        {
            _worker = worker;
            _work = work;
            _cancellationToken = cancellationToken;
            if (cancellationToken.CanBeCanceled)
            {
                _registration = cancellationToken.Register(static s => ((WorkItem<T>)s!).Cancel(), this);
            }
        }

        public Task<T> Task => _completion.Task;

        public override bool CancellationRequested => _cancellationToken.IsCancellationRequested;

        public override void Execute(SqliteConnection connection)
        {
            lock (this)
            {
                if (_state != Queued)
                {
                    return;
                }

                _state = Running;
            }

            try
            {
                var result = _work(connection);
                Finish();
                _completion.TrySetResult(result);
            }
            catch (Exception ex)
            {
                Finish();
                if (_cancellationToken.IsCancellationRequested && ex is SqlStatementException { ErrorCode: 9 })
                {
                    _completion.TrySetCanceled(_cancellationToken);
                }
                else
                {
                    _completion.TrySetException(ex);
                }
            }
        }

        private void Finish()
        {
            // Under the item's lock, so that Cancel() interrupts only while this item's statement runs.
            lock (this)
            {
                _state = Done;
            }

            _registration.Unregister();
        }

        private void Cancel()
        {
            lock (this)
            {
                switch (_state)
                {
                    case Queued:
                        _state = Done;
                        _completion.TrySetCanceled(_cancellationToken);
                        return;
                    case Running:
                        _worker.Interrupt();
                        return;
                }
            }
        }
    }
}
