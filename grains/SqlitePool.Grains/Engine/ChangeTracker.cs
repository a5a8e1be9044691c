using SQLitePCL;

namespace SqlitePool.Engine;

/// <summary>
/// Which tables the writer changed, for change notifications: SQLite's update hook names the table of every row
/// written; the rollback hook forgets a transaction's tables; a statement or savepoint that fails is undone with
/// <see cref="Undo"/>. Tables reach <see cref="TakeCommitted"/> only once the connection is back in autocommit, that
/// is after the COMMIT. Used by one thread at a time: whoever holds the writer connection.
/// </summary>
internal sealed class ChangeTracker
{
    [ThreadStatic]
    private static ChangeTracker? _current;

    private readonly List<string> _order = [];
    private readonly HashSet<string> _pending = new(StringComparer.Ordinal);
    private readonly HashSet<string> _committed = new(StringComparer.Ordinal);
    private readonly delegate_update _onUpdate;
    private readonly delegate_rollback _onRollback;

    public ChangeTracker()
    {
        _onUpdate = static (state, _, _, table, _) => ((ChangeTracker)state).Touched(table.utf8_to_string());
        _onRollback = static state => ((ChangeTracker)state).Forget(0);
    }

    /// <summary>The tracker of the writer whose worker thread this is, when notifications are on.</summary>
    public static ChangeTracker? Current => _current;

    /// <summary>Installs the hooks on the writer connection; call on its worker thread.</summary>
    public void Install(sqlite3 db)
    {
        raw.sqlite3_update_hook(db, _onUpdate, this);
        raw.sqlite3_rollback_hook(db, _onRollback, this);
        _current = this;
    }

    /// <summary>A point to undo back to when what follows fails.</summary>
    public int Mark() => _order.Count;

    /// <summary>Forgets tables first touched after <paramref name="mark"/> (their changes were undone).</summary>
    public void Undo(int mark) => Forget(mark);

    /// <summary>Moves the tables of a finished transaction to the committed set; call when the connection is in autocommit.</summary>
    public void Settle(sqlite3 db)
    {
        if (_order.Count == 0 || raw.sqlite3_get_autocommit(db) == 0)
        {
            return;
        }

        lock (_committed)
        {
            _committed.UnionWith(_order);
        }

        Forget(0);
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

    private void Forget(int mark)
    {
        for (var i = _order.Count - 1; i >= mark; i--)
        {
            _pending.Remove(_order[i]);
            _order.RemoveAt(i);
        }
    }
}
