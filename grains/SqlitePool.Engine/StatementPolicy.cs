using SQLitePCL;

namespace SqlitePool.Engine;

/// <summary>
/// SQLite's authorizer on every pool connection: refuses what would break the pool's invariants or reach
/// outside the data root. The reason of the last refusal is kept per worker thread, so the statement runner
/// can turn SQLITE_AUTH into a <see cref="StatementNotAllowedException"/> that says why.
/// </summary>
internal sealed class StatementPolicy
{
    // Pragmas whose change would break the pool: WAL and shared locking keep readers beside the writer,
    // writable_schema lets SQL corrupt the file.
    private static readonly string[] GuardedPragmas = ["journal_mode", "locking_mode", "writable_schema"];

    // Settings the pool applies from its options: changed by one caller, they would hold for every later caller of
    // the shared connection (synchronous = OFF silently drops the configured durability).
    private static readonly Dictionary<string, string> OwnedPragmas = new(StringComparer.OrdinalIgnoreCase)
    {
        ["synchronous"] = "the Synchronous option",
        ["foreign_keys"] = "the ForeignKeys option",
        ["busy_timeout"] = "the BusyTimeout option",
        ["journal_size_limit"] = "the WalLimitBytes option",
        ["wal_autocheckpoint"] = "the pool, which runs checkpoints itself (WalLimitBytes, CheckpointInterval)",
    };

    // query_only keeps readers read-only, and the directory pragmas move files outside the data root.
    private static readonly string[] ForbiddenPragmas = ["temp_store_directory", "data_store_directory"];

    [ThreadStatic]
    private static string? s_lastDenial;

    private readonly sqlite3 _db;
    private readonly bool _allowAttach;
    private readonly bool _allowPragmaChanges;
    private readonly string _root;
    private readonly strdelegate_authorizer _callback;
    private volatile bool _transactionControlSeen;

    /// <summary>Set on the worker thread while the pool prepares or runs its own transaction statement
    /// (<see cref="SharedSnapshot"/>), which is not noted in <see cref="TransactionControlSeen"/>.</summary>
    public bool RunningOwnStatement { get; set; }

    /// <summary>On the writer while change notifications are on: told when a transaction begins in autocommit, so
    /// tables of an earlier one whose rollback it missed are dropped.</summary>
    public ChangeTracker? Changes { get; set; }

    private StatementPolicy(sqlite3 db, bool allowAttach, bool allowPragmaChanges, string root)
    {
        _db = db;
        _allowAttach = allowAttach;
        _allowPragmaChanges = allowPragmaChanges;
        _root = Path.TrimEndingDirectorySeparator(Path.GetFullPath(root));
        _callback = Authorize;
    }

    // True while a statement of this connection that is being stepped is a VACUUM without INTO (its own ATTACH is
    // prepared inside that step).
    private bool InPlainVacuum()
    {
        for (var stmt = SqliteNative.NextStatement(_db.DangerousGetHandle(), 0); stmt != 0; stmt = SqliteNative.NextStatement(_db.DangerousGetHandle(), stmt))
        {
            if (SqliteNative.StatementBusy(stmt) != 0
                && System.Runtime.InteropServices.Marshal.PtrToStringUTF8(SqliteNative.StatementText(stmt)) is { } sql
                && SqlText.LeadingKeyword(sql) == "VACUUM"
                && !System.Text.RegularExpressions.Regex.IsMatch(sql, @"\bINTO\b", System.Text.RegularExpressions.RegexOptions.IgnoreCase))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Installs the policy on a connection; <paramref name="root"/> bounds allowed ATTACH targets.</summary>
    public static StatementPolicy Install(sqlite3 db, bool allowAttach, bool allowPragmaChanges, string root)
    {
        var policy = new StatementPolicy(db, allowAttach, allowPragmaChanges, root);
        raw.sqlite3_set_authorizer(db, policy._callback, policy);
        return policy;
    }

    /// <summary>
    /// True once a statement that can open a transaction (BEGIN, SAVEPOINT) has been prepared on the connection,
    /// other than the pool's own (which always ends what it began). Until then it is in autocommit between uses, so
    /// returning it needs no native check; once seen it stays set, since a prepared BEGIN can run again without
    /// being prepared again.
    /// </summary>
    public bool TransactionControlSeen => _transactionControlSeen;

    /// <summary>The reason of the refusal that failed the current statement on this thread, if any; cleared once read.</summary>
    public static string? TakeLastDenial()
    {
        var reason = s_lastDenial;
        s_lastDenial = null;
        return reason;
    }

    private int Authorize(object userData, int action, string? arg1, string? arg2, string? database, string? trigger)
    {
        if (action is raw.SQLITE_TRANSACTION or raw.SQLITE_SAVEPOINT)
        {
            _transactionControlSeen |= !RunningOwnStatement;
            if (arg1 == "BEGIN")
            {
                Changes?.Discard(_db);
            }

            return raw.SQLITE_OK;
        }

        var reason = action switch
        {
            // VACUUM rebuilds the database in a private temporary one it attaches (no file name): allowed while a plain
            // VACUUM of this connection runs, and never to SQL's own ATTACH (whose name may come from a parameter).
            raw.SQLITE_ATTACH when string.IsNullOrEmpty(arg1) && InPlainVacuum() => null,
            raw.SQLITE_ATTACH when !_allowAttach => "ATTACH is refused; set AllowAttach to attach databases inside the data root",
            raw.SQLITE_ATTACH when !IsInsideRoot(arg1) => $"ATTACH of '{arg1}' is outside the data root; give a path under {_root}",
            raw.SQLITE_DETACH when !_allowAttach => "DETACH is refused; set AllowAttach",
            raw.SQLITE_FUNCTION when string.Equals(arg2, "load_extension", StringComparison.OrdinalIgnoreCase) =>
                "load_extension() is refused; load extensions in code from OnDatabaseOpened",
            raw.SQLITE_PRAGMA when ForbiddenPragmas.Contains(arg1?.ToLowerInvariant()) => $"PRAGMA {arg1} would move files outside the data root",
            raw.SQLITE_PRAGMA when arg2 is not null && arg1?.ToLowerInvariant() == "query_only" => "PRAGMA query_only is managed by the pool",
            // Setting it replaces the pool's WAL hook, which counts the transactions: never from SQL.
            raw.SQLITE_PRAGMA when arg2 is not null && arg1?.ToLowerInvariant() == "wal_autocheckpoint" =>
                "PRAGMA wal_autocheckpoint is managed by the pool, which runs checkpoints itself (WalLimitBytes, CheckpointInterval; not even AllowPragmaChanges allows it)",
            // A checkpoint may let SQLite start the log over, and the pool marks where its transaction ids stand before
            // each one it runs: one it did not run could make them repeat after a crash.
            raw.SQLITE_PRAGMA when !_allowPragmaChanges && arg1?.ToLowerInvariant() == "wal_checkpoint" =>
                "PRAGMA wal_checkpoint is the pool's: it runs checkpoints itself (WalLimitBytes, CheckpointInterval); set AllowPragmaChanges to allow it",
            raw.SQLITE_PRAGMA when arg2 is not null && !_allowPragmaChanges && GuardedPragmas.Contains(arg1?.ToLowerInvariant()) =>
                $"PRAGMA {arg1} = {arg2} would break the pool's WAL arbitration; set AllowPragmaChanges to allow it",
            raw.SQLITE_PRAGMA when arg2 is not null && !_allowPragmaChanges && arg1 is not null && OwnedPragmas.TryGetValue(arg1, out var owner) =>
                $"PRAGMA {arg1} = {arg2} would change, for every later caller of this connection, a setting owned by {owner}; " +
                "set it there, or set AllowPragmaChanges to let SQL change it",
            _ => null,
        };
        if (reason is null)
        {
            return raw.SQLITE_OK;
        }

        s_lastDenial = reason;
        return raw.SQLITE_DENY;
    }

    /// <summary>SQLite opens relative names against the working directory; both must land under the root.
    /// In-memory and temporary attachments touch no file.</summary>
    private bool IsInsideRoot(string? file)
    {
        if (file is null)
        {
            return false; // not a literal: the target cannot be checked
        }

        if (file.Length == 0 || file == ":memory:")
        {
            return true;
        }

        if (file.StartsWith("file:", StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        var full = Path.GetFullPath(file);
        return full.StartsWith(_root + Path.DirectorySeparatorChar, StringComparison.Ordinal) && !full.EndsWith(".lock", StringComparison.Ordinal);
    }
}
