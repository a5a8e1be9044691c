using System.Text;
using SQLitePCL;

namespace SqlitePool.Engine;

/// <summary>
/// Runs statements on a raw SQLite handle: prepares each statement of the text in turn, binds the
/// parameters, steps it and reads values in their storage classes (so integers and reals stay distinct).
/// A single-statement text is prepared once per connection (<see cref="StatementCache"/>); every statement is
/// reset or finalized before returning, so none keeps a read snapshot alive.
/// </summary>
internal static class StatementRunner
{
    private const int MaxKeptBufferValues = 1 << 20;
    private const int SqliteRange = 25;
    private const int SqliteError = 1;

    [ThreadStatic]
    private static List<object?>? _rowBuffer;

    /// <summary>Runs the statements of <paramref name="statement"/> as writes.</summary>
    /// <param name="db">The connection.</param>
    /// <param name="statement">The SQL and its values.</param>
    /// <param name="statementIndex">Its position in a batch, for errors.</param>
    /// <param name="scope">Whose transaction the statements run in: a lease holder's own, one the pool opened for
    /// this write alone, or a commit group's.</param>
    public static ExecuteResult Execute(sqlite3 db, Statement statement, int? statementIndex = null, WriteScope scope = WriteScope.Holder)
    {
        long changes = 0;
        QueryResult? rows = null;
        Run(db, statement, readPath: false, statementIndex, ref changes, ref rows, scope);
        return new ExecuteResult(changes, raw.sqlite3_last_insert_rowid(db), rows);
    }

    /// <summary>True when SQLite reads the text as one statement, only whitespace, comments and semicolons after it.
    /// Decided before anything of it runs: kept statements are single by construction; for another text only its first
    /// statement is prepared (and kept, when it is the only one). A second statement is never prepared ahead of the
    /// first, since some pragmas take effect as they are prepared: whatever follows the first counts as a second.</summary>
    public static bool IsSingleStatement(sqlite3 db, string sql)
    {
        var cache = StatementCache.Current;
        if (cache is not null && cache.TryGet(sql, out _))
        {
            return true;
        }

        if (sql.Contains('\0', StringComparison.Ordinal))
        {
            return true; // refused as it runs, before anything does
        }

        ReadOnlySpan<byte> remaining = Encoding.UTF8.GetBytes(sql);
        try
        {
            while (!remaining.IsEmpty)
            {
                var rc = raw.sqlite3_prepare_v2(db, remaining, out var stmt, out var tail);
                if (rc != raw.SQLITE_OK || tail.Length >= remaining.Length)
                {
                    // A first statement that does not prepare fails the write before anything runs.
                    stmt?.Dispose();
                    return true;
                }

                remaining = tail;
                if (stmt is null || stmt.IsInvalid)
                {
                    stmt?.Dispose(); // an empty statement (a lone semicolon) prepares nothing
                    continue;
                }

                if (!SqlKeywords.IsBlank(remaining))
                {
                    stmt.Dispose();
                    return false;
                }

                // The only statement: kept, so running it does not prepare it again.
                if (cache is not null)
                {
                    cache.Add(sql, stmt, SqlKeywords.TraitsOf(stmt));
                }
                else
                {
                    stmt.Dispose();
                }

                return true;
            }

            return true;
        }
        finally
        {
            // A refusal met here belongs to no caller's error: the run prepares again and meets it anew.
            StatementPolicy.TakeLastDenial();
        }
    }

    /// <summary>Runs the statements of <paramref name="statement"/> as reads and returns the rows of the last
    /// statement that has columns.</summary>
    /// <exception cref="WriteOnReadPathException">A statement writes, or controls transactions or attachments.</exception>
    public static QueryResult Query(sqlite3 db, Statement statement, bool readPath)
    {
        long changes = 0;
        QueryResult? rows = null;
        Run(db, statement, readPath, null, ref changes, ref rows);
        return rows ?? QueryResult.Empty;
    }

    /// <summary>Prepares one read statement for a cursor and binds its values; the caller owns the statement.</summary>
    /// <exception cref="WriteOnReadPathException">It writes, or controls transactions or attachments.</exception>
    /// <exception cref="SqlStatementException">It does not prepare, or the text holds more than one statement.</exception>
    public static sqlite3_stmt PrepareCursor(sqlite3 db, Statement statement)
    {
        var sql = statement.Sql;
        if (sql.Contains('\0', StringComparison.Ordinal))
        {
            throw new SqlStatementException("The SQL text contains a NUL character; pass such values as parameters.", SqliteError, SqliteError, sql, null);
        }

        var rc = raw.sqlite3_prepare_v2(db, Encoding.UTF8.GetBytes(sql), out var stmt, out var tail);
        if (rc != raw.SQLITE_OK)
        {
            stmt?.Dispose();
            throw Error(db, rc, sql, null);
        }

        try
        {
            if (stmt is null || stmt.IsInvalid || !SqlKeywords.IsBlank(tail))
            {
                throw new SqlStatementException("A streamed query must be exactly one statement.", SqliteError, SqliteError, sql, null);
            }

            var traits = SqlKeywords.TraitsOf(stmt);
            if (!traits.ReadOnly || traits.RefusedOnReadPath)
            {
                throw new WriteOnReadPathException(sql);
            }

            var parameterCount = Bind(db, stmt, StatementShape.ParameterNames(stmt), statement, null);
            if (statement.Parameters.Length > parameterCount)
            {
                throw new SqlStatementException(
                    $"The statement has {parameterCount} parameter(s) but {statement.Parameters.Length} positional value(s) were given.",
                    SqliteRange, SqliteRange, sql, null);
            }

            return stmt;
        }
        catch
        {
            stmt?.Dispose();
            throw;
        }
    }

    /// <summary>Steps a cursor's statement for up to <paramref name="maxRows"/> rows; <paramref name="done"/> once
    /// SQLite said so (stepping again would restart the statement). <paramref name="columns"/> is read after the
    /// statement's first step, which may have prepared it again for a schema change.</summary>
    public static QueryResult? StepBatch(sqlite3 db, sqlite3_stmt stmt, ref string[]? columns, int maxRows, string sql, out bool done)
    {
        done = false;
        List<object?>? values = null;
        var rows = 0;
        while (rows < maxRows)
        {
            var rc = raw.sqlite3_step(stmt);
            columns ??= StatementShape.ColumnNames(stmt);
            values ??= new List<object?>(Math.Min(maxRows, 4096) * Math.Max(columns.Length, 1));
            if (rc == raw.SQLITE_DONE)
            {
                done = true;
                break;
            }

            if (rc != raw.SQLITE_ROW)
            {
                throw Error(db, rc, sql, null);
            }

            for (var i = 0; i < columns.Length; i++)
            {
                values.Add(ReadColumn(stmt, i));
            }

            rows++;
        }

        return rows == 0 ? null : new QueryResult(columns!, values!.ToArray());
    }

    /// <summary>Runs SQL without parameters and without results (pragmas, transaction control).</summary>
    public static void Exec(sqlite3 db, string sql)
    {
        var rc = raw.sqlite3_exec(db, sql);
        if (rc != raw.SQLITE_OK)
        {
            throw Error(db, rc, sql, null);
        }
    }

    /// <summary>Builds the typed error from the connection's last error.</summary>
    public static SqlStatementException Error(sqlite3 db, int rc, string sql, int? statementIndex)
    {
        // The authorizer's refusal surfaces as SQLITE_AUTH, or as SQLITE_ERROR for functions.
        if (StatementPolicy.TakeLastDenial() is { } reason)
        {
            return new StatementNotAllowedException(reason, sql);
        }

        var extended = raw.sqlite3_extended_errcode(db);
        var message = raw.sqlite3_errmsg(db).utf8_to_string() ?? raw.sqlite3_errstr(rc).utf8_to_string();
        var primary = rc & 0xff;
        if ((extended & 0xff) != primary)
        {
            extended = rc;
        }

        return new SqlStatementException($"SQLite Error {primary}: '{message}'.", primary, extended, sql, statementIndex);
    }

    private static void Run(sqlite3 db, Statement statement, bool readPath, int? statementIndex, ref long changes, ref QueryResult? rows, WriteScope scope = WriteScope.Holder)
    {
        var sql = statement.Sql;
        if (sql.Contains('\0', StringComparison.Ordinal))
        {
            // SQLite stops reading SQL at a NUL, so whatever follows would silently not run.
            throw new SqlStatementException("The SQL text contains a NUL character; pass such values as parameters.", SqliteError, SqliteError, sql, statementIndex);
        }

        var cache = StatementCache.Current;
        if (cache is not null && cache.TryGet(sql, out var cached))
        {
            try
            {
                RunPrepared(db, cached.Stmt, cached.Traits, cached, statement, readPath, scope, onlyStatement: true, statementIndex, ref changes, ref rows);
            }
            finally
            {
                StatementCache.Return(cached);
            }

            return;
        }

        ReadOnlySpan<byte> remaining = Encoding.UTF8.GetBytes(sql);
        var first = true;
        while (!remaining.IsEmpty)
        {
            var rc = raw.sqlite3_prepare_v2(db, remaining, out var stmt, out var tail);
            if (rc != raw.SQLITE_OK)
            {
                stmt?.Dispose();
                throw Error(db, rc, sql, statementIndex);
            }

            if (tail.Length >= remaining.Length)
            {
                stmt?.Dispose();
                break; // no progress: nothing more SQLite can read
            }

            remaining = tail;
            if (stmt is null || stmt.IsInvalid)
            {
                stmt?.Dispose();
                continue; // only whitespace or comments were left
            }

            var onlyStatement = first && SqlKeywords.IsBlank(remaining);
            first = false;
            var traits = SqlKeywords.TraitsOf(stmt);
            if (onlyStatement && cache is not null)
            {
                var entry = cache.Add(sql, stmt, traits);
                try
                {
                    RunPrepared(db, stmt, traits, entry, statement, readPath, scope, onlyStatement, statementIndex, ref changes, ref rows);
                }
                finally
                {
                    StatementCache.Return(entry);
                }

                continue;
            }

            using (stmt)
            {
                RunPrepared(db, stmt, traits, null, statement, readPath, scope, onlyStatement, statementIndex, ref changes, ref rows);
            }
        }
    }

    private static void RunPrepared(
        sqlite3 db, sqlite3_stmt stmt, StatementTraits traits, CachedStatement? cached, Statement statement, bool readPath, WriteScope scope,
        bool onlyStatement, int? statementIndex, ref long changes, ref QueryResult? rows)
    {
        if (readPath && (!traits.ReadOnly || traits.RefusedOnReadPath))
        {
            throw new WriteOnReadPathException(statement.Sql);
        }

        if (scope != WriteScope.Holder && (traits.ControlsTransaction || traits.RunsOutsideTransactions) && (statementIndex is not null || !onlyStatement))
        {
            // The pool runs a batch, or a write of several statements, in one transaction: a COMMIT among them would
            // keep what ran before it whatever came after. Refused before it runs; the pool's rollback undoes the rest.
            throw AtomicWriteRefused(stmt, traits, statement, statementIndex);
        }

        if (scope == WriteScope.Group && !traits.Groupable)
        {
            throw new NotGroupableException();
        }

        var parameterCount = Bind(db, stmt, cached?.Parameters ?? StatementShape.ParameterNames(stmt), statement, statementIndex);
        if (onlyStatement && statement.Parameters.Length > parameterCount)
        {
            throw new SqlStatementException(
                $"The statement has {parameterCount} parameter(s) but {statement.Parameters.Length} positional value(s) were given.",
                SqliteRange, SqliteRange, statement.Sql, statementIndex);
        }

        var mark = ChangeTracker.Current?.Mark() ?? 0;
        try
        {
            Step(db, stmt, cached, statement.Sql, statementIndex, ref changes, ref rows);
        }
        catch
        {
            // SQLite undid the failed statement's rows: its tables did not change.
            ChangeTracker.Current?.Undo(mark);
            throw;
        }
    }

    private static void Step(sqlite3 db, sqlite3_stmt stmt, CachedStatement? cached, string sql, int? statementIndex, ref long changes, ref QueryResult? rows)
    {
        var totalBefore = raw.sqlite3_total_changes(db);
        var rc = raw.sqlite3_step(stmt);

        // Only now is the shape known: SQLite prepares a kept statement again inside its first step when the schema
        // changed since, and the column count can change with it.
        var columnCount = raw.sqlite3_column_count(stmt);
        List<object?>? values = null;
        if (columnCount > 0)
        {
            // Rows collect in a buffer the thread keeps, then leave in one right-sized array.
            values = _rowBuffer ??= new List<object?>(256);
            values.Clear();
        }

        for (; rc == raw.SQLITE_ROW; rc = raw.sqlite3_step(stmt))
        {
            if (values is null)
            {
                continue;
            }

            for (var i = 0; i < columnCount; i++)
            {
                values.Add(ReadColumn(stmt, i));
            }
        }

        if (rc != raw.SQLITE_DONE)
        {
            values?.Clear(); // the rows read before the failure are not kept alive by the thread's buffer
            throw Error(db, rc, sql, statementIndex);
        }

        // Only statements that changed rows report sqlite3_changes; it keeps the last DML's count otherwise.
        if (raw.sqlite3_total_changes(db) != totalBefore)
        {
            changes += raw.sqlite3_changes(db);
        }

        if (values is not null)
        {
            rows = new QueryResult(cached?.Columns ?? StatementShape.ColumnNames(stmt), values.ToArray());
            values.Clear();
            if (values.Capacity > MaxKeptBufferValues)
            {
                _rowBuffer = null; // a huge result's buffer is not kept
            }
        }
    }

    /// <summary>Drops this thread's row buffer unless it is small: for threads that ran SQLite work only as callers.</summary>
    internal static void TrimRowBuffer()
    {
        if (_rowBuffer is { Capacity: > 256 })
        {
            _rowBuffer = null;
        }
    }

    private static StatementNotAllowedException AtomicWriteRefused(sqlite3_stmt stmt, StatementTraits traits, Statement statement, int? statementIndex)
    {
        var text = (raw.sqlite3_sql(stmt).utf8_to_string() ?? statement.Sql).Trim();
        var within = statementIndex is null ? "a write of several statements, which" : "a batch, which";
        var reason = traits.ControlsTransaction
            ? $"'{text}' controls the transaction inside {within} runs all or nothing in one transaction of its own; " +
              "leave BEGIN, COMMIT, END, ROLLBACK, SAVEPOINT and RELEASE out, or use a writer lease (TransactionAsync) to control transactions"
            : $"'{text}' cannot run inside {within} runs all or nothing in one transaction of its own; " +
              "send ATTACH, DETACH and VACUUM on their own, or run them on a writer lease";
        return new StatementNotAllowedException(reason, statement.Sql, statementIndex);
    }

    private static object? ReadColumn(sqlite3_stmt stmt, int i) => raw.sqlite3_column_type(stmt, i) switch
    {
        raw.SQLITE_INTEGER => raw.sqlite3_column_int64(stmt, i),
        raw.SQLITE_FLOAT => raw.sqlite3_column_double(stmt, i),
        // column_blob on a text value returns its UTF-8 bytes with their length, so embedded NULs survive.
        raw.SQLITE_TEXT => Encoding.UTF8.GetString(raw.sqlite3_column_blob(stmt, i)),
        raw.SQLITE_BLOB => raw.sqlite3_column_blob(stmt, i).ToArray(),
        _ => null,
    };

    private static int Bind(sqlite3 db, sqlite3_stmt stmt, string?[] names, Statement statement, int? statementIndex)
    {
        var positional = statement.Parameters;
        for (var i = 1; i <= names.Length; i++)
        {
            object? value;
            if (names[i - 1] is { } name && statement.NamedParameters is { } named && named.TryGetValue(name, out var namedValue))
            {
                value = namedValue;
            }
            else if (i - 1 < positional.Length)
            {
                value = positional[i - 1];
            }
            else
            {
                var shown = raw.sqlite3_bind_parameter_name(stmt, i).utf8_to_string() ?? $"?{i}";
                throw new SqlStatementException(
                    $"No value was given for parameter {shown} (number {i} of {names.Length}).",
                    SqliteRange, SqliteRange, statement.Sql, statementIndex);
            }

            var rc = BindValue(stmt, i, value);
            if (rc != raw.SQLITE_OK)
            {
                throw Error(db, rc, statement.Sql, statementIndex);
            }
        }

        return names.Length;
    }

    private static int BindValue(sqlite3_stmt stmt, int index, object? value)
    {
        switch (value)
        {
            case null:
                return raw.sqlite3_bind_null(stmt, index);
            case long l:
                return raw.sqlite3_bind_int64(stmt, index, l);
            case double d:
                return raw.sqlite3_bind_double(stmt, index, d);
            case string { Length: 0 }:
                return raw.sqlite3_bind_text(stmt, index, "");
            case string s:
                return raw.sqlite3_bind_text(stmt, index, Encoding.UTF8.GetBytes(s));
            case byte[] { Length: 0 }:
                // An empty span arrives as a null pointer, which SQLite would bind as NULL.
                return raw.sqlite3_bind_zeroblob(stmt, index, 0);
            case byte[] b:
                return raw.sqlite3_bind_blob(stmt, index, b);
            default:
                object? storage;
                try
                {
                    storage = SqlValues.ToStorage(value);
                }
                catch (ArgumentException ex)
                {
                    throw new SqlStatementException(ex.Message, SqliteError, SqliteError, null);
                }

                return BindValue(stmt, index, storage);
        }
    }
}

/// <summary>Whose transaction a write's statements run in.</summary>
internal enum WriteScope
{
    /// <summary>A lease holder's: it may begin and end transactions as it likes.</summary>
    Holder,

    /// <summary>One the pool opened for this write (a batch, or a text of several statements) or autocommit.</summary>
    Own,

    /// <summary>A commit group's, shared with other callers' writes.</summary>
    Group,
}

/// <summary>A statement of a commit group must run alone (it controls transactions or cannot run inside one).</summary>
internal sealed class NotGroupableException : Exception
{
}
