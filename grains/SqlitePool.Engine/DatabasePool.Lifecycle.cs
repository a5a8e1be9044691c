using Microsoft.Data.Sqlite;
using SQLitePCL;
using SqlitePool.Diagnostics;
using SqlitePool.Engine.Backup;
using SqlitePool.Hosting;

namespace SqlitePool.Engine;

public sealed partial class DatabasePool
{
    /// <summary>The oldest SQLite accepted: 3.51.3 fixed the WAL-reset corruption bug.</summary>
    public static readonly Version MinimumSqliteVersion = new(3, 51, 3);

    /// <summary>
    /// Opens the writer (creating the file and its directory), applies the pragmas, checks SQLite's version
    /// and runs <paramref name="onOpened"/> on the writer before the pool serves any call. The pool's SQLite work runs
    /// on <paramref name="scheduler"/> (default <see cref="SqliteScheduler.Shared"/>).
    /// </summary>
    /// <exception cref="SqlitePoolException">The file cannot be opened, SQLite is too old, or the hook failed.</exception>
    public static async Task<DatabasePool> OpenAsync(
        string database,
        string path,
        DatabaseOptions options,
        TimeProvider? timeProvider = null,
        Action<DatabaseOpenContext>? onOpened = null,
        Action<DatabasePool>? onClosed = null,
        SqliteScheduler? scheduler = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        timeProvider ??= TimeProvider.System;
        scheduler ??= SqliteScheduler.Shared;
        var worker = new ConnectionWorker($"sqlite writer {database}", timeProvider, scheduler)
        {
            WaitsOnDisk = true,
            BusyTimeoutMs = (int)Math.Min(int.MaxValue, (long)options.BusyTimeout.TotalMilliseconds),
        };
        FileStream? fence = null;
        // Off the caller's thread (a grain's turn): listing, and a restore's downloads, file writes and integrity check.
        var (restored, stored) = options.Backup is { Target: not null } backup
            ? await Task.Run(() => OpenBackupAsync(database, path, backup)).ConfigureAwait(false)
            : (null, null);
        try
        {
            // One hand-off: the lock file, the transactions counted from its mark through the log (which no connection
            // has open yet), then the writer.
            var (version, wal, certain) = await worker.RunAsync(_ =>
            {
                fence = TakeFence(database, path);
                var exists = new FileInfo(path) is { Exists: true, Length: > 0 };
                var mark = TransactionMark.Read(fence);
                var count = TransactionMark.AtOpen(mark, exists, path + "-wal");

                // The backup's chain goes on from this file only when the file is what it shipped: counted exactly, and
                // not copied or restored in place (but for a restore of the chain's own end, just made).
                var trusted = count.Certain && exists && (mark is not { Foreign: true } || restored?.Transaction == count.Transactions);
                var (version, wal, counted) = OpenWriter(worker, database, path, options, onOpened, count, fence, timeProvider, trusted, mark is { Foreign: true }, stored);
                return (version, wal, count.Certain && counted);
            }).ConfigureAwait(false);
            return new DatabasePool(database, path, options, timeProvider, scheduler, new PooledConnection(worker, isWriter: true), version, wal, fence!, onClosed)
            {
                TransactionIdsJumped = !certain,
                AutoRestored = restored,
            };
        }
        catch
        {
            // The writer closes before the lock file goes: no other opener writes beside it.
            await CloseConnectionAsync(worker, checkpoint: false).ConfigureAwait(false);
            if (fence is not null)
            {
                await fence.DisposeAsync().ConfigureAwait(false);
            }

            throw;
        }
    }

    /// <summary>Closes the pool: fails waiters, ends leases and streams (rolling back their transactions), waits for
    /// running statements, then closes the readers and last the writer, after a checkpoint. Idempotent.</summary>
    /// <remarks>Bounded by <see cref="DatabaseOptions.CloseTimeout"/>: statement timeouts keep running meanwhile; past
    /// it, every statement still to run is stopped, connections held by silo-local leases are revoked (their later
    /// statements refused; they close when given back), and what remains gets the same time again. The lock file is
    /// released, whatever happened, once the writer connection has closed: at once, or when a silo-local lease that
    /// outlived the limit gives the writer back. Until then no other pool can open the file, so there is never a
    /// second writer.</remarks>
    public Task CloseAsync()
    {
        lock (_arbiter.Gate)
        {
            if (_closeTask is null)
            {
                _drained = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                MarkUsed(); // visited often while it closes: statement timeouts go on
                if (_arbiter.Close())
                {
                    _drained.TrySetResult();
                }

                _closeTask = CloseCoreAsync();
            }

            return _closeTask;
        }
    }

    /// <summary>Under the arbiter's lock, once the closing pool has every connection back.</summary>
    internal void Drained() => _drained?.TrySetResult();

    private async Task CloseCoreAsync()
    {
        try
        {
            var ending = _leases.Values.Select(EndLeaseAsync).Concat(_cursors.Keys.Select(c => c.DisposeAsync().AsTask()));
            var revoking = Task.CompletedTask;
            if (!await WithinAsync(Task.WhenAll([.. ending, _drained!.Task])).ConfigureAwait(false))
            {
                revoking = GiveUpHeldConnections();
            }

            await WithinAsync(Task.WhenAll(revoking, CloseConnectionsAsync())).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            PoolLog.CloseFailed(Logger, ex, Database);
        }
        finally
        {
            if (!_writer.Abandoned)
            {
                // Also after a failure: the writer closes (queued behind what runs there), and then the fence goes.
                _ = CloseWriterAsync();
            }

            ReleaseFenceOnce();
            lock (_arbiter.Gate)
            {
                // Readers still opening count until they end (ReaderOpenEnded), which then counts nothing more.
                _arbiter.ReleaseFiles();
            }

            _onClosed?.Invoke(this);
        }

        if (_backup is not null)
        {
            // Nothing commits any more, and the files are free for the next open: what was captured is shipped
            // (within the close's limit, unless the target is failing), then shipping stops.
            await WithinAsync(_backup.StopAsync(_options.CloseTimeout)).ConfigureAwait(false);
        }
    }

    /// <summary>Closes every connection not left to a silo-local lease: readers first, so the writer's final
    /// checkpoint is not held back by their snapshots.</summary>
    private async Task CloseConnectionsAsync()
    {
        List<PooledConnection> readers;
        lock (_arbiter.Gate)
        {
            readers = [.. _arbiter.Readers.Where(r => !r.Abandoned)];
        }

        await Task.WhenAll(readers.Select(r => CloseConnectionAsync(r.Worker, checkpoint: false))).ConfigureAwait(false);
        if (!_writer.Abandoned)
        {
            await CloseWriterAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Closes the writer once, after a checkpoint; the fence goes when this and the close are both done.</summary>
    private Task CloseWriterAsync()
    {
        lock (_arbiter.Gate)
        {
            return _writerClosing ??= CloseOnceAsync();
        }

        async Task CloseOnceAsync()
        {
            try
            {
                // A pool that retires itself (idle, or for another database's files) opens again soon: it leaves its log for
                // that open rather than pay a checkpoint's syncs now. A close for good checkpoints.
                await CloseConnectionAsync(_writer.Worker, checkpoint: !_retired, _wal).ConfigureAwait(false);
            }
            catch (ObjectDisposedException)
            {
                // Its worker had stopped: nothing of it is open.
            }
            finally
            {
                ReleaseFenceOnce();
            }
        }
    }

    /// <summary>Called once when the close is done and once when the writer has closed: the second call releases the
    /// lock file. Synchronous, so a holder that gives an abandoned writer back finds the file free on return.</summary>
    private void ReleaseFenceOnce()
    {
        if (Interlocked.Decrement(ref _fenceHolds) == 0)
        {
            _fence.Dispose();
        }
    }

    /// <summary>Past the close's limit: stops every statement still to run on the pool's own connections, and revokes
    /// the connections silo-local leases hold (their holders close them when they give them back).</summary>
    /// <returns>The revocations, each done once its holder's running statement has ended.</returns>
    private Task GiveUpHeldConnections()
    {
        PooledConnection[] connections;
        lock (_arbiter.Gate)
        {
            connections = _arbiter.AbandonHeldConnections();
        }

        var revocations = new List<Task>();
        foreach (var connection in connections)
        {
            if (connection.Abandoned)
            {
                // On a thread of its own: it waits for the holder's running statement to end.
                revocations.Add(Task.Run(connection.Revoke));
            }
            else
            {
                connection.Worker.StopEverything();
            }
        }

        PoolLog.CloseTimedOut(Logger, Database, _options.CloseTimeout, revocations.Count);
        return Task.WhenAll(revocations);
    }

    private DatabaseClosedException ClosedPastLimit() => new(Database);

    /// <summary>Waits for <paramref name="task"/> up to <see cref="DatabaseOptions.CloseTimeout"/>; false when it
    /// did not end in time. A failure is logged, and the close goes on.</summary>
    private async Task<bool> WithinAsync(Task task)
    {
        try
        {
            await task.WaitAsync(_options.CloseTimeout, _time).ConfigureAwait(false);
        }
        catch (TimeoutException) when (!task.IsCompleted)
        {
            return false;
        }
        catch (Exception ex)
        {
            PoolLog.CloseFailed(Logger, ex, Database);
        }

        return true;
    }

    /// <summary>Closes a connection in its own work (queued behind what runs there), after a checkpoint for the
    /// writer, and stops its worker.</summary>
    private static async Task CloseConnectionAsync(ConnectionWorker worker, bool checkpoint, WalProgress? wal = null)
    {
        try
        {
            await worker.RunAsync(_ =>
            {
                try
                {
                    if (checkpoint && worker.ConnectionOrNull is { } connection)
                    {
                        if (!Checkpoint(connection.Handle!, "TRUNCATE", wal, busyTimeout: TimeSpan.Zero).Ran)
                        {
                            // Unmarked, SQLite's own checkpoint as the last connection closes must not run either.
                            raw.sqlite3_db_config(connection.Handle!, raw.SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, out var unmarked);
                        }
                    }
                    else if (wal is not null && worker.ConnectionOrNull is { } writer)
                    {
                        // Nor does SQLite's own close of the last connection checkpoint: the log stays, and the next
                        // open reads it back, counting transactions on from this mark (unsynced: after a power loss,
                        // from an earlier one in the same log).
                        raw.sqlite3_db_config(writer.Handle!, raw.SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, out var unchanged);
                        wal.TryMark(writer.Handle!, durable: false);
                    }
                }
                catch (SqlStatementException)
                {
                    // Interrupted, or an I/O error: the log stays for the next open, which recovers it.
                }
                finally
                {
                    // Finalized first: an unfinalized statement would keep the connection open as a zombie.
                    worker.Statements.Dispose();
                    worker.ConnectionOrNull?.Dispose();
                    wal?.Dispose();
                }

                return true;
            }).ConfigureAwait(false);
        }
        finally
        {
            worker.Dispose();
            FreedMemory.ConnectionClosed();
        }
    }

    /// <summary>Under the arbiter's lock, as a connection comes back: one the close left to its silo-local lease is
    /// closed now, on its own thread (the writer after a checkpoint, releasing the lock file). Its holder waits for that
    /// (<see cref="PooledConnection.Closed"/>).</summary>
    internal bool CloseIfAbandoned(PooledConnection connection)
    {
        if (!connection.Abandoned)
        {
            return false;
        }

        connection.Closed = connection.IsWriter ? CloseWriterAsync() : CloseConnectionAsync(connection.Worker, checkpoint: false);
        return true;
    }

    private async Task<PooledConnection> OpenReaderAsync()
    {
        var worker = new ConnectionWorker($"sqlite reader {Database}", _time, _scheduler)
        {
            TimeoutError = StatementTimedOut,
            ClosedError = ClosedPastLimit,
            BusyTimeoutMs = (int)Math.Min(int.MaxValue, (long)_options.BusyTimeout.TotalMilliseconds),
        };
        PooledConnection? reader = null;
        try
        {
            await worker.RunAsync(_ =>
            {
                var connection = Connect(Path, SqliteOpenMode.ReadWrite);
                worker.SetConnection(connection);

                // Checkpoints belong to the writer: a reader that happens to close last leaves the log to the next open.
                raw.sqlite3_db_config(connection.Handle!, raw.SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, out var unchanged);
                ApplyPragmas(connection, _options, reader: true);
                worker.Policy = InstallPolicy(connection, _options, Path);
                return true;
            }).ConfigureAwait(false);
            reader = new PooledConnection(worker, isWriter: false);
        }
        catch
        {
            await CloseConnectionAsync(worker, checkpoint: false).ConfigureAwait(false);
            lock (_arbiter.Gate)
            {
                _arbiter.ReaderOpenEnded(opened: null);
                _arbiter.Dispatch();
            }

            throw;
        }

        lock (_arbiter.Gate)
        {
            if (_arbiter.ReaderOpenEnded(reader))
            {
                return reader;
            }

            // Closed while it opened: the close never counted it. It closes here, and the caller is refused.
            _arbiter.Dispatch();
        }

        await CloseConnectionAsync(worker, checkpoint: false).ConfigureAwait(false);
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

    /// <summary>The version of the SQLite library loaded in the process.</summary>
    private static string LoadedSqliteVersion => s_sqliteVersion ??= raw.sqlite3_libversion().utf8_to_string();

    private static string? s_sqliteVersion;

    /// <returns>The version, the writer's progress, and false when commits of the open hook went uncounted.</returns>
    private static (string Version, WalProgress Wal, bool Counted) OpenWriter(
        ConnectionWorker worker, string database, string path, DatabaseOptions options, Action<DatabaseOpenContext>? onOpened, OpenCount count, FileStream lockFile,
        TimeProvider time, bool trusted, bool foreign, IReadOnlyList<string>? stored)
    {
        var connection = Connect(path, SqliteOpenMode.ReadWriteCreate);
        worker.SetConnection(connection);

        // Until the open succeeds, a close (of a failed open) must not checkpoint: that could start the log over with
        // no mark, and the next open would count too few transactions.
        raw.sqlite3_db_config(connection.Handle!, raw.SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, out _);
        var version = LoadedSqliteVersion;
        if (Version.Parse(version) < MinimumSqliteVersion)
        {
            throw new SqlitePoolException($"SQLite {version} is older than {MinimumSqliteVersion}, which fixed WAL-reset corruption; update the SQLitePCLRaw bundle.");
        }

        ApplyPragmas(connection, options, reader: false);

        // Before the open hook, so that its commits (migrations) are counted too.
        var wal = WalProgress.Install(connection.Handle!, count.Transactions, count.LogFrames, lockFile, time);
        wal.Foreign = foreign && !trusted;
        var skipped = false;
        if (options.Backup is { Target: not null } backup)
        {
            // Ids go past every id stored under the name, unless the chain goes on from this very file: no id may
            // name two states in the backup. Then capture starts, before the first commit (the open hook's included).
            var floor = stored is null ? 0 : BackupChain.HighestTransaction(database, stored);
            if (stored is null)
            {
                // The target could not be listed: ids it may hold cannot be known (even a file of its own chain may be
                // behind it, after a volume rollback), so they jump rather than repeat.
                wal.Skip(TransactionMark.UncertainJump);
                skipped = true;
            }
            else if (floor > count.Transactions || !trusted && (floor == count.Transactions && floor > 0 || wal.Foreign))
            {
                // Content the chain did not ship starts at an id no stored object and no earlier caller was given.
                wal.Skip(Math.Max(floor, count.Transactions) + 1 - count.Transactions);
                skipped = true;
            }

            wal.Shipper = new BackupShipper(database, backup, time, wal.Transactions, count.LogEnd, trusted && !skipped, stored);
        }
        try
        {
            var counted = true;
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

                // SQL such as PRAGMA wal_autocheckpoint replaces the hook: put it back, and if its commits went
                // uncounted meanwhile, jump rather than repeat.
                if (!wal.Reinstall(connection.Handle!))
                {
                    wal.Skip(TransactionMark.UncertainJump);
                    counted = false;
                }
            }

            // A mark of the log SQLite has now opened, where the lock file's is of none or another (see TransactionMark);
            // synced after an open hook, whose SQL may have checkpointed, restarting the log unmarked.
            if ((!count.MarkCurrent || !counted || onOpened is not null || skipped) && !wal.TryMark(connection.Handle!, durable: onOpened is not null || skipped))
            {
                throw new SqlitePoolException($"Cannot write the transaction mark of '{database}' to its lock file.");
            }

            worker.Policy = InstallPolicy(connection, options, path);

            // Last: a failed open until here closes without checkpointing.
            raw.sqlite3_db_config(connection.Handle!, raw.SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 0, out _);
            return (version, wal, counted);
        }
        catch
        {
            // The connection closes with its hook still set: it must not call back into a freed handle.
            SqliteNative.SetWalHook(connection.Handle!.DangerousGetHandle(), 0, 0);
            wal.Dispose();
            throw;
        }
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
        var connection = new PoolSqliteConnection(builder.ConnectionString);
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

        // One call. Readers write nothing, but whoever reads these pragmas from a reader sees the pool's settings.
        StatementRunner.Exec(db, $"PRAGMA busy_timeout = {(long)options.BusyTimeout.TotalMilliseconds}; "
            + $"PRAGMA foreign_keys = {(options.ForeignKeys ? "ON" : "OFF")}; "
            + $"PRAGMA synchronous = {options.Synchronous}; "
            + $"PRAGMA journal_size_limit = {options.WalLimitBytes}; "
            + $"PRAGMA cache_size = -{options.CacheSizeKiB}"
            + (reader ? "; PRAGMA query_only = ON" : string.Empty));
        if (reader)
        {
            return;
        }

        var mode = StatementRunner.Query(db, new Statement($"PRAGMA journal_mode = {options.JournalMode}"), readPath: false)[0, 0] as string;
        if (!string.Equals(mode, options.JournalMode, StringComparison.OrdinalIgnoreCase))
        {
            throw new SqlitePoolException($"SQLite kept journal mode '{mode}' instead of '{options.JournalMode}' (JournalMode); is the file on a filesystem without shared memory?");
        }
    }
}
