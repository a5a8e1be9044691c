using Microsoft.Data.Sqlite;
using SqlitePool.Hosting;

namespace SqlitePool.Engine;

public sealed partial class DatabasePool
{
    /// <summary>The oldest SQLite accepted: 3.51.3 fixed the WAL-reset corruption bug.</summary>
    public static readonly Version MinimumSqliteVersion = new(3, 51, 3);

    /// <summary>
    /// Opens the writer (creating the file and its directory), applies the pragmas, checks SQLite's version
    /// and runs <paramref name="onOpened"/> on the writer before the pool serves any call.
    /// </summary>
    /// <exception cref="SqlitePoolException">The file cannot be opened, SQLite is too old, or the hook failed.</exception>
    public static async Task<DatabasePool> OpenAsync(
        string database,
        string path,
        DatabaseOptions options,
        TimeProvider? timeProvider = null,
        Action<DatabaseOpenContext>? onOpened = null,
        Action<DatabasePool>? onClosed = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        timeProvider ??= TimeProvider.System;
        var worker = new ConnectionWorker($"sqlite writer {database}", timeProvider);
        FileStream? fence = null;
        try
        {
            fence = await worker.RunAsync(_ => TakeFence(database, path)).ConfigureAwait(false);
            var version = await worker.RunAsync(_ => OpenWriter(worker, database, path, options, onOpened)).ConfigureAwait(false);
            return new DatabasePool(database, path, options, timeProvider, new PooledConnection(worker, isWriter: true), version, fence, onClosed);
        }
        catch
        {
            await worker.RunAsync(_ =>
            {
                StatementCache.Current?.Dispose();
                worker.ConnectionOrNull?.Dispose();
                return true;
            }).ConfigureAwait(false);
            worker.Dispose();
            if (fence is not null)
            {
                await fence.DisposeAsync().ConfigureAwait(false);
            }

            throw;
        }
    }

    /// <summary>Closes the pool: fails waiters, ends leases (rolling back their transactions), waits for running
    /// statements, then closes the readers and last the writer, after a checkpoint. Idempotent.</summary>
    public Task CloseAsync()
    {
        lock (_sync)
        {
            if (_closeTask is null)
            {
                _closed = true;
                Contend();
                UnparkReader();
                FailAllWaiters(new DatabaseClosedException(Database));
                _drained = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                if (!_writerBusy && BusyReaders == 0)
                {
                    _drained.TrySetResult();
                }

                _closeTask = CloseCoreAsync();
            }

            return _closeTask;
        }
    }

    private async Task CloseCoreAsync()
    {
        _sweeper.Dispose();
        await Task.WhenAll(_leases.Values.Select(l => EndLeaseAsync(l))).ConfigureAwait(false);
        await Task.WhenAll(_cursors.Keys.Select(c => c.DisposeAsync().AsTask())).ConfigureAwait(false);
        await _drained!.Task.ConfigureAwait(false);

        // Readers first, so the writer's final checkpoint is not held back by their snapshots.
        foreach (var reader in _readers)
        {
            await CloseConnectionAsync(reader.Worker, checkpoint: false).ConfigureAwait(false);
        }

        await CloseConnectionAsync(_writer.Worker, checkpoint: true).ConfigureAwait(false);
        await _fence.DisposeAsync().ConfigureAwait(false);
        _onClosed?.Invoke(this);
    }

    private static async Task CloseConnectionAsync(ConnectionWorker worker, bool checkpoint)
    {
        await worker.RunAsync(c =>
        {
            if (checkpoint)
            {
                SQLitePCL.raw.sqlite3_exec(c.Handle!, "PRAGMA wal_checkpoint(TRUNCATE)");
            }

            // Finalized first: an unfinalized statement would keep the connection open as a zombie.
            StatementCache.Current?.Dispose();
            c.Dispose();
            return true;
        }).ConfigureAwait(false);
        worker.Dispose();
    }

    private async Task<PooledConnection> OpenReaderAsync()
    {
        var worker = new ConnectionWorker($"sqlite reader {Database}", _time) { TimeoutError = StatementTimedOut };
        PooledConnection? reader = null;
        try
        {
            await worker.RunAsync(_ =>
            {
                var connection = Connect(Path, SqliteOpenMode.ReadWrite);
                worker.SetConnection(connection);
                ApplyPragmas(connection, _options, reader: true);
                worker.Policy = InstallPolicy(connection, _options, Path);
                return true;
            }).ConfigureAwait(false);
            reader = new PooledConnection(worker, isWriter: false);
        }
        catch
        {
            worker.Dispose();
            lock (_sync)
            {
                _readersOpening--;
                Dispatch();
            }

            throw;
        }

        lock (_sync)
        {
            _readersOpening--;
            _readers.Add(reader);
            if (!_closed)
            {
                return reader;
            }

            // Closed while opening: keep it counted so the close closes it, and refuse the caller.
            _idleReaders.Push(reader);
            Dispatch();
        }

        throw new DatabaseClosedException(Database);
    }

    /// <summary>
    /// Takes an exclusive OS lock on <c>path.lock</c> for the pool's lifetime. The grain directory is eventually
    /// consistent, so two activations of one database can briefly exist; the second fails here instead of writing.
    /// </summary>
    private static FileStream TakeFence(string database, string path)
    {
        if (System.IO.Path.GetDirectoryName(path) is { Length: > 0 } directory)
        {
            Directory.CreateDirectory(directory);
        }

        var lockFile = path + ".lock";
        try
        {
            // FileShare.None is an exclusive flock on Unix and a share-mode lock on Windows: both hold across processes.
            return new FileStream(lockFile, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException)
        {
            throw new DatabaseLockedException(database, lockFile);
        }
    }

    private static string OpenWriter(ConnectionWorker worker, string database, string path, DatabaseOptions options, Action<DatabaseOpenContext>? onOpened)
    {
        var connection = Connect(path, SqliteOpenMode.ReadWriteCreate);
        worker.SetConnection(connection);
        var version = (string)StatementRunner.Query(connection.Handle!, new Statement("SELECT sqlite_version()"), readPath: false)[0, 0]!;
        if (Version.Parse(version) < MinimumSqliteVersion)
        {
            throw new SqlitePoolException($"SQLite {version} is older than {MinimumSqliteVersion}, which fixed WAL-reset corruption; update the SQLitePCLRaw bundle.");
        }

        ApplyPragmas(connection, options, reader: false);
        if (onOpened is not null)
        {
            try
            {
                onOpened(new DatabaseOpenContext(database, path, connection));
            }
            catch (Exception ex) when (ex is not SqlitePoolException)
            {
                throw new SqlitePoolException($"The open hook of '{database}' failed: {ex.GetType().Name}: {ex.Message}");
            }

            PooledConnection.Reset(connection);
        }

        worker.Policy = InstallPolicy(connection, options, path);
        return version;
    }

    /// <summary>After the pool's own pragmas and the open hook (trusted code), user SQL meets the policy.</summary>
    private static StatementPolicy InstallPolicy(SqliteConnection connection, DatabaseOptions options, string path) =>
        StatementPolicy.Install(connection.Handle!, options.AllowAttach, options.AllowPragmaChanges,
            options.ConfinementRoot ?? System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path))!);

    private static SqliteConnection Connect(string path, SqliteOpenMode mode)
    {
        var builder = new SqliteConnectionStringBuilder
        {
            DataSource = path,
            Mode = mode,
            Pooling = false, // we are the pool
            Cache = SqliteCacheMode.Private,
        };
        var connection = new SqliteConnection(builder.ConnectionString);
        try
        {
            connection.Open();
        }
        catch (SqliteException ex)
        {
            connection.Dispose();
            throw new SqlStatementException($"Cannot open '{path}': {ex.Message}", ex.SqliteErrorCode, ex.SqliteExtendedErrorCode, null);
        }

        return connection;
    }

    private static void ApplyPragmas(SqliteConnection connection, DatabaseOptions options, bool reader)
    {
        var db = connection.Handle!;
        StatementRunner.Exec(db, $"PRAGMA busy_timeout = {(long)options.BusyTimeout.TotalMilliseconds}");
        StatementRunner.Exec(db, $"PRAGMA foreign_keys = {(options.ForeignKeys ? "ON" : "OFF")}");
        if (reader)
        {
            StatementRunner.Exec(db, "PRAGMA query_only = ON");
            return;
        }

        var mode = StatementRunner.Query(db, new Statement($"PRAGMA journal_mode = {options.JournalMode}"), readPath: false)[0, 0] as string;
        if (!string.Equals(mode, options.JournalMode, StringComparison.OrdinalIgnoreCase))
        {
            throw new SqlitePoolException($"SQLite kept journal mode '{mode}' instead of '{options.JournalMode}' (JournalMode); is the file on a filesystem without shared memory?");
        }

        StatementRunner.Exec(db, $"PRAGMA synchronous = {options.Synchronous}");
        StatementRunner.Exec(db, $"PRAGMA journal_size_limit = {options.WalLimitBytes}");
    }
}
