using SQLitePCL;

namespace SqlitePool.Engine;

/// <summary>
/// One read transaction around the reads of one hand-off (<see cref="DatabasePool.QueryEachAsync(IReadOnlyList{Statement})"/>), its BEGIN
/// and COMMIT prepared once per reader. An autocommit read pays SQLite's transaction start and end each time
/// (file locks, the WAL index, the file size): point SELECTs on two connections ran about 2.7 times as fast in
/// transactions of seven as in autocommit on this machine.
/// </summary>
/// <remarks>
/// The reads of one call were all sent before it starts running, so a snapshot taken then (or later, once
/// <see cref="MaxAge"/> has passed) shows each of them every write committed before it was sent, as autocommit
/// would. The pool's own BEGIN is not noted by the statement policy: no lease holder can run it again (see
/// <see cref="StatementPolicy.TransactionControlSeen"/>).
/// </remarks>
internal sealed class SharedSnapshot : IDisposable
{
    /// <summary>How long reads of one call go on in one snapshot before the next read takes a fresh one: far
    /// longer than a burst of point reads, short enough that a call of long reads does not keep the write-ahead
    /// log from being reset for much longer than its longest read.</summary>
    public static readonly TimeSpan MaxAge = TimeSpan.FromMilliseconds(50);

    private readonly sqlite3 _db;
    private readonly StatementPolicy? _policy;
    private readonly sqlite3_stmt _begin;
    private readonly sqlite3_stmt _commit;

    private SharedSnapshot(sqlite3 db, StatementPolicy? policy, sqlite3_stmt begin, sqlite3_stmt commit) =>
        (_db, _policy, _begin, _commit) = (db, policy, begin, commit);

    /// <summary>On a worker thread: begins a read transaction on its connection. Null when none began; the reads
    /// then run in autocommit.</summary>
    public static SharedSnapshot? Begin(sqlite3 db, StatementPolicy? policy)
    {
        if (StatementCache.Current is not { } cache || raw.sqlite3_get_autocommit(db) == 0)
        {
            return null;
        }

        var snapshot = cache.Snapshot ??= Prepare(db, policy);
        return snapshot is not null && snapshot.Step(snapshot._begin) ? snapshot : null;
    }

    /// <summary>Ends the transaction <see cref="Begin"/> opened, unless a failed read already ended it.</summary>
    public void End()
    {
        if (raw.sqlite3_get_autocommit(_db) == 0 && !Step(_commit))
        {
            // Not run as the pool's own statement: should this fail too, the policy has noted transaction control,
            // so every later return of the reader checks for a transaction left open.
            raw.sqlite3_exec(_db, "ROLLBACK");
        }
    }

    public void Dispose()
    {
        _begin.Dispose();
        _commit.Dispose();
    }

    private static SharedSnapshot? Prepare(sqlite3 db, StatementPolicy? policy)
    {
        SetOwn(policy, true);
        try
        {
            if (raw.sqlite3_prepare_v2(db, "BEGIN"u8, out var begin, out _) != raw.SQLITE_OK)
            {
                begin?.Dispose();
                return null;
            }

            if (raw.sqlite3_prepare_v2(db, "COMMIT"u8, out var commit, out _) != raw.SQLITE_OK)
            {
                begin.Dispose();
                commit?.Dispose();
                return null;
            }

            return new SharedSnapshot(db, policy, begin, commit);
        }
        finally
        {
            SetOwn(policy, false);
        }
    }

    // SQLite prepares a statement again inside sqlite3_step when it has expired, which the policy sees too.
    private bool Step(sqlite3_stmt stmt)
    {
        SetOwn(_policy, true);
        try
        {
            var rc = raw.sqlite3_step(stmt);
            raw.sqlite3_reset(stmt);
            return rc == raw.SQLITE_DONE;
        }
        finally
        {
            SetOwn(_policy, false);
        }
    }

    private static void SetOwn(StatementPolicy? policy, bool own)
    {
        if (policy is not null)
        {
            policy.RunningOwnStatement = own;
        }
    }
}
