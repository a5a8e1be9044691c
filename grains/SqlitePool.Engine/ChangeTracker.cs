using SQLitePCL;

namespace SqlitePool.Engine;

/// <summary>
/// Which tables the writer's committed transactions changed, for change notifications. SQLite's update hook names the
/// table of every row written; the commit hook moves the open transaction's tables aside as it commits; the rollback
/// hook forgets them; a statement or savepoint that fails is undone with <see cref="Undo"/>. <see cref="Settle"/>,
/// once the connection is back in autocommit, publishes what committed and drops what did not (a transaction whose
/// rollback the hook missed, because ADO.NET's <c>SqliteTransaction</c> holds the rollback hook while it is open).
/// </summary>
/// <remarks>Used by one thread at a time: whoever holds the writer connection, who settles before giving it back.
/// Only <see cref="TakeCommitted"/> runs elsewhere, under the committed set's lock.</remarks>
internal sealed class ChangeTracker
{
    private readonly List<string> _order = [];
    private readonly HashSet<string> _pending = new(StringComparer.Ordinal);
    private readonly HashSet<string> _committing = new(StringComparer.Ordinal);
    private readonly HashSet<string> _committed = new(StringComparer.Ordinal);
    private readonly delegate_update _onUpdate;
    private readonly delegate_commit _onCommit;
    private readonly delegate_rollback _onRollback;

    public ChangeTracker()
    {
        _onUpdate = static (state, _, _, table, _) => ((ChangeTracker)state).Touched(table.utf8_to_string());
        _onCommit = static state => ((ChangeTracker)state).Committing();
        _onRollback = static state => ((ChangeTracker)state).RolledBack();
    }

    /// <summary>The tracker of the writer whose work the current thread runs, when notifications are on.</summary>
    public static ChangeTracker? Current => ConnectionWorker.Current?.Changes;

    /// <summary>Installs the hooks on the writer connection; call in a work item of <paramref name="worker"/>, holding
    /// the writer.</summary>
    public void Install(sqlite3 db, ConnectionWorker worker)
    {
        InstallHooks(db);
        worker.Changes = this;
    }

    /// <summary>Takes the hooks off the writer; call in a work item of the writer, holding it.</summary>
    public static void Uninstall(sqlite3 db)
    {
        raw.sqlite3_update_hook(db, (delegate_update?)null, null);
        raw.sqlite3_commit_hook(db, (delegate_commit?)null, null);
        raw.sqlite3_rollback_hook(db, (delegate_rollback?)null, null);
    }

    /// <summary>Puts the hooks back on the writer (ADO.NET's transactions take the rollback hook while open).</summary>
    public void InstallHooks(sqlite3 db)
    {
        raw.sqlite3_update_hook(db, _onUpdate, this);
        raw.sqlite3_commit_hook(db, _onCommit, this);
        raw.sqlite3_rollback_hook(db, _onRollback, this);
    }

    /// <summary>A point to undo back to when what follows fails.</summary>
    public int Mark() => _order.Count;

    /// <summary>Forgets tables first touched after <paramref name="mark"/> (their changes were undone).</summary>
    public void Undo(int mark)
    {
        for (var i = _order.Count - 1; i >= mark; i--)
        {
            _pending.Remove(_order[i]);
            _order.RemoveAt(i);
        }
    }

    /// <summary>A transaction begins while the connection is in autocommit: nothing pending can still commit.</summary>
    public void Discard(sqlite3 db)
    {
        if (raw.sqlite3_get_autocommit(db) != 0)
        {
            Undo(0);
        }
    }

    /// <summary>In autocommit: publishes the tables of the transactions that committed, and drops the rest.</summary>
    public void Settle(sqlite3 db)
    {
        if ((_committing.Count == 0 && _order.Count == 0) || raw.sqlite3_get_autocommit(db) == 0)
        {
            return;
        }

        if (_committing.Count > 0)
        {
            lock (_committed)
            {
                _committed.UnionWith(_committing);
            }

            _committing.Clear();
        }

        Undo(0);
    }

    /// <summary>The tables committed since the last call, sorted; empty when none.</summary>
    public string[] TakeCommitted()
    {
        lock (_committed)
        {
            var tables = _committed.Order(StringComparer.Ordinal).ToArray();
            _committed.Clear();
            return tables;
        }
    }

    private void Touched(string table)
    {
        if (_pending.Add(table))
        {
            _order.Add(table);
        }
    }

    private int Committing()
    {
        _committing.UnionWith(_order);
        Undo(0);
        return 0;
    }

    private void RolledBack()
    {
        // Only the open transaction's tables: what an earlier commit of this holder moved aside stays (a commit that
        // fails after its hook, on an I/O error, is then reported anyway, the rarer and lesser mistake).
        Undo(0);
    }
}
