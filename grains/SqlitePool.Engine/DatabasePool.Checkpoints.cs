using SqlitePool.Diagnostics;
using SqlitePool.Hosting;

namespace SqlitePool.Engine;

/// <summary>
/// The checkpoint governor: keeps the write-ahead log under <see cref="DatabaseOptions.WalLimitBytes"/>. SQLite's
/// auto-checkpoint copies pages back on commits, but cannot pass the oldest reader's snapshot and never shrinks
/// the file; so, run every <see cref="DatabaseOptions.CheckpointInterval"/>, this takes snapshots held longer than
/// <see cref="DatabaseOptions.MaxReaderSnapshotAge"/> away while the log is over the limit, and runs checkpoints
/// on the writer (under the same arbitration as writes): TRUNCATE when over the limit or when nothing reads,
/// PASSIVE after a quiet interval.
/// </summary>
public sealed partial class DatabasePool
{
    private long _writesAtLastLook = -1;

    /// <summary>When the oldest snapshot held by a reader lease, a stream or a read in flight began, or null.</summary>
    public DateTimeOffset? OldestReaderSnapshot()
    {
        PooledConnection[] readers;
        lock (_arbiter.Gate)
        {
            readers = _arbiter.Readers;
        }

        var now = Now;
        return _leases.Values.Where(l => l.Kind == LeaseKind.Reader).Select(l => (DateTimeOffset?)l.AcquiredAt)
            .Concat(_cursors.Keys.Select(c => (DateTimeOffset?)c.OpenedAt))
            .Concat(readers.Select(r => r.Worker.RunningSince is { } since ? now - _time.GetElapsedTime(since) : (DateTimeOffset?)null))
            .Min();
    }

    /// <summary>One look at the log: ends over-age snapshots when it is over the limit, then checkpoints if
    /// there is reason to.</summary>
    /// <returns>The checkpoint run (mode, then SQLite's busy flag, log frames and checkpointed frames), or null.</returns>
    public async Task<string?> GovernWalAsync()
    {
        if (IsClosed)
        {
            return null;
        }

        var wal = WalBytes();
        var over = wal > _options.WalLimitBytes;
        if (over)
        {
            await EndOverAgeSnapshotsAsync().ConfigureAwait(false);
        }

        var writes = Interlocked.Read(ref _writes);
        var quiet = writes == Interlocked.Exchange(ref _writesAtLastLook, writes);
        var nobodyReads = OldestReaderSnapshot() is null;
        if (!over && !(quiet && (_wal.FramesToCheckpoint > 0 || (nobodyReads && wal > 0))))
        {
            return null;
        }

        var mode = over || nobodyReads ? "TRUNCATE" : "PASSIVE";
        PooledConnection? writer;
        try
        {
            // Over the limit it waits its turn with the writes; otherwise it only uses a writer nobody wants.
            writer = over ? await AcquireConnectionAsync(LeaseKind.Writer, CancellationToken.None).ConfigureAwait(false) : TakeIdleWriter();
        }
        catch (Exception ex) when (ex is DatabaseTimeoutException or DatabaseClosedException or DatabaseOverloadedException)
        {
            return null;
        }

        if (writer is null)
        {
            return null;
        }

        try
        {
            var (outcome, ran) = await writer.Worker.RunAsync(c => Checkpoint(c.Handle!, mode, _wal, _options.BusyTimeout)).ConfigureAwait(false);
            if (ran)
            {
                PoolLog.Checkpointed(Logger, Database, outcome);
            }
            else
            {
                PoolLog.CheckpointSkipped(Logger, Database, _wal.MarkFailures);
            }

            return outcome;
        }
        finally
        {
            ReleaseConnection(writer, LeaseKind.Writer);
        }
    }

    /// <summary>On the writer: one checkpoint pass of the main database, through SQLite's API (not SQL: the statement
    /// policy refuses <c>wal_checkpoint</c> to callers). SQLite's busy handler is off meanwhile, so a TRUNCATE that finds
    /// a reader on an old snapshot reports busy at once instead of holding the writer for up to BusyTimeout. The
    /// transaction mark goes first, synced: without it no checkpoint runs, as the log could then start over unmarked.</summary>
    /// <returns>The mode, then SQLite's busy flag, log frames and checkpointed frames, or why it did not run; and whether
    /// it ran.</returns>
    /// <exception cref="SqlStatementException">SQLite failed the checkpoint.</exception>
    private static (string Outcome, bool Ran) Checkpoint(SQLitePCL.sqlite3 db, string mode, WalProgress? wal, TimeSpan busyTimeout)
    {
        if (wal is not null && !wal.TryMark(db, durable: true))
        {
            return ($"{mode} skipped: the transaction mark could not be written to the lock file", false);
        }

        SQLitePCL.raw.sqlite3_busy_timeout(db, 0);
        try
        {
            var rc = CheckpointMain(db.DangerousGetHandle(), CheckpointModes[mode], out var log, out var checkpointed);
            if (rc is not (SQLitePCL.raw.SQLITE_OK or SQLitePCL.raw.SQLITE_BUSY))
            {
                throw new SqlStatementException($"The {mode} checkpoint failed: {SQLitePCL.raw.sqlite3_errstr(rc).utf8_to_string()}.", rc & 0xFF, rc, null);
            }

            wal?.Checkpointed(log, checkpointed);
            return ($"{mode} busy={(rc == SQLitePCL.raw.SQLITE_BUSY ? 1 : 0)} log={log} checkpointed={checkpointed}", true);
        }
        finally
        {
            SQLitePCL.raw.sqlite3_busy_timeout(db, (int)busyTimeout.TotalMilliseconds);
        }
    }

    private static readonly Dictionary<string, int> CheckpointModes = new()
    {
        ["PASSIVE"] = SQLitePCL.raw.SQLITE_CHECKPOINT_PASSIVE,
        ["TRUNCATE"] = SQLitePCL.raw.SQLITE_CHECKPOINT_TRUNCATE,
    };

    private static unsafe int CheckpointMain(IntPtr db, int mode, out int log, out int checkpointed)
    {
        // A UTF-8 literal's bytes are followed by a terminating zero, as SQLite expects of a schema name.
        fixed (byte* main = "main"u8)
        {
            return SqliteNative.Checkpoint(db, (IntPtr)main, mode, out log, out checkpointed);
        }
    }

    private async Task EndOverAgeSnapshotsAsync()
    {
        var limit = _options.MaxReaderSnapshotAge;
        var oldest = Now - limit;
        var reason = $"it held a read snapshot longer than MaxReaderSnapshotAge ({limit.TotalSeconds:0.###} s) while the write-ahead log was over WalLimitBytes ({_options.WalLimitBytes} bytes)";
        foreach (var lease in _leases.Values.Where(l => l.Kind == LeaseKind.Reader && l.AcquiredAt < oldest).ToList())
        {
            if (await RevokeAsync(lease.Id, reason).ConfigureAwait(false))
            {
                PoolLog.SnapshotEnded(Logger, Database, "lease " + lease.Id, limit);
            }
        }

        foreach (var cursor in _cursors.Keys.Where(c => c.OpenedAt < oldest).ToList())
        {
            await cursor.EndAsync(new DatabaseTimeoutException(Database, "a stream to finish its snapshot", limit, nameof(DatabaseOptions.MaxReaderSnapshotAge))).ConfigureAwait(false);
            PoolLog.SnapshotEnded(Logger, Database, "a stream", limit);
        }
    }

    private PooledConnection? TakeIdleWriter()
    {
        lock (_arbiter.Gate)
        {
            // The pool's own checkpoint is no use of the database: it does not keep it from closing when idle.
            var used = _usedSinceSweep;
            var took = _arbiter.TryTake(LeaseKind.Writer, out var writer, out _);
            _usedSinceSweep = used;
            return took ? writer : null;
        }
    }

    private long WalBytes() => new FileInfo(Path + "-wal") is { Exists: true } wal ? wal.Length : 0;
}
