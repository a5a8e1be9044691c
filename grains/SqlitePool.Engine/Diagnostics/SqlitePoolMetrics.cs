using System.Diagnostics;
using System.Diagnostics.Metrics;
using SqlitePool.Engine;

namespace SqlitePool.Diagnostics;

/// <summary>
/// The pool's meter (<see cref="MeterName"/>), with OpenTelemetry's database-client names where they apply and
/// <c>sqlitepool.*</c> for the rest. Every measurement carries <c>db.client.connection.pool.name</c>: the database key.
/// </summary>
public sealed class SqlitePoolMetrics
{
    /// <summary>The meter's name, to pass to OpenTelemetry's <c>AddMeter</c>.</summary>
    public const string MeterName = "SqlitePool";

    /// <summary>The tag naming the pool (the database key).</summary>
    public const string PoolNameTag = "db.client.connection.pool.name";

    private Func<IReadOnlyList<DatabasePool>> _pools = () => [];

    /// <summary>Creates the instruments on a meter from <paramref name="meterFactory"/>.</summary>
    public SqlitePoolMetrics(IMeterFactory meterFactory)
    {
        ArgumentNullException.ThrowIfNull(meterFactory);
        var meter = meterFactory.Create(MeterName);
        Timeouts = meter.CreateCounter<long>("db.client.connection.timeouts", "{timeout}", "Acquisitions and statements that ran out of time.");
        WaitTime = meter.CreateHistogram<double>("db.client.connection.wait_time", "s", "Time to obtain a connection from the pool.");
        UseTime = meter.CreateHistogram<double>("db.client.connection.use_time", "s", "Time between obtaining a connection and giving it back.");
        OperationDuration = meter.CreateHistogram<double>("db.client.operation.duration", "s", "Duration of statements and batches, from submission to answer.");
        GroupCommitSize = meter.CreateHistogram<int>("sqlitepool.group_commit.size", "{write}", "Writes committed by one COMMIT.");
        RowsRead = meter.CreateCounter<long>("sqlitepool.rows.read", "{row}", "Rows returned by queries.");
        RowsWritten = meter.CreateCounter<long>("sqlitepool.rows.written", "{row}", "Rows changed by writes.");
        meter.CreateObservableUpDownCounter("db.client.connection.count", () => Observe(s =>
            [Measure(s.ReadersIdle + (s.WriterBusy ? 0 : 1), s, "idle"), Measure(s.ReadersBusy + (s.WriterBusy ? 1 : 0), s, "used")]), "{connection}", "Connections open, by state.");
        meter.CreateObservableUpDownCounter("db.client.connection.max", () => Observe(s => [Measure(s.MaxReaders + 1, s)]), "{connection}", "The most connections the pool opens (readers and the writer).");
        meter.CreateObservableUpDownCounter("db.client.connection.pending_requests", () => Observe(s =>
            [Measure(s.ReaderWaiters + s.WriterWaiters + s.ExclusiveWaiters, s)]), "{request}", "Callers waiting for a connection.");
        meter.CreateObservableUpDownCounter("sqlitepool.writer.queue_depth", () => Observe(s => [Measure(s.WriterWaiters, s)]), "{request}", "Writes and writer leases waiting for the writer.");
        meter.CreateObservableGauge("sqlitepool.wal.size", () => Observe(s => [Measure(s.WalBytes, s)]), "By", "Size of the write-ahead log.");
        meter.CreateObservableGauge("sqlitepool.backup.lag", () => _pools().Where(p => !p.IsClosed).Select(p => p.GetStatistics()).Where(s => s.Backup is not null)
            .Select(s => new Measurement<double>(s.Backup!.LagSeconds, new KeyValuePair<string, object?>(PoolNameTag, s.Database))), "s", "Age of the oldest commit not yet stored in the backup target.");
        meter.CreateObservableGauge("sqlitepool.backup.lag_bytes", () => Observe(s => s.Backup is { } b ? [Measure(b.LagBytes, s)] : []), "By", "Bytes of commits waiting to be stored in the backup target.");
        meter.CreateObservableCounter("sqlitepool.backup.stored_bytes", () => Observe(s => s.Backup is { } b ? [Measure(b.StoredBytes, s)] : []), "By", "Bytes stored in the backup target since the database opened.");
        meter.CreateObservableGauge("sqlitepool.wal.checkpoint_lag", () => Observe(s => [Measure(s.WalFramesToCheckpoint, s)]), "{frame}", "Frames in the write-ahead log not yet checkpointed.");
    }

    internal Counter<long> Timeouts { get; }

    internal Histogram<double> WaitTime { get; }

    internal Histogram<double> UseTime { get; }

    internal Histogram<double> OperationDuration { get; }

    internal Histogram<int> GroupCommitSize { get; }

    internal Counter<long> RowsRead { get; }

    internal Counter<long> RowsWritten { get; }

    /// <summary>Where the observable instruments find the open pools.</summary>
    internal void Observe(Func<IReadOnlyList<DatabasePool>> pools) => _pools = pools;

    private static Measurement<long> Measure(long value, PoolStatistics pool, string? state = null) => state is null
        ? new Measurement<long>(value, new KeyValuePair<string, object?>(PoolNameTag, pool.Database))
        : new Measurement<long>(value, new KeyValuePair<string, object?>(PoolNameTag, pool.Database), new KeyValuePair<string, object?>("db.client.connection.state", state));

    private IEnumerable<Measurement<long>> Observe(Func<PoolStatistics, Measurement<long>[]> measure) =>
        _pools().Where(p => !p.IsClosed).SelectMany(p => measure(p.GetStatistics()));
}

/// <summary>One pool's view of <see cref="SqlitePoolMetrics"/>: the measurements with its name attached.</summary>
internal sealed class PoolMetrics(SqlitePoolMetrics metrics, string database, TimeProvider time)
{
    private readonly KeyValuePair<string, object?> _pool = new(SqlitePoolMetrics.PoolNameTag, database);

    public void Timeout() => metrics.Timeouts.Add(1, _pool);

    public void Waited(long since)
    {
        if (since != 0 && metrics.WaitTime.Enabled)
        {
            metrics.WaitTime.Record(time.GetElapsedTime(since).TotalSeconds, _pool);
        }
    }

    public void Used(long since)
    {
        if (since != 0 && metrics.UseTime.Enabled)
        {
            metrics.UseTime.Record(time.GetElapsedTime(since).TotalSeconds, _pool);
        }
    }

    public void Operation(long since, string operation)
    {
        if (since != 0 && metrics.OperationDuration.Enabled)
        {
            metrics.OperationDuration.Record(time.GetElapsedTime(since).TotalSeconds, _pool, new KeyValuePair<string, object?>("db.operation.name", operation));
        }
    }

    /// <summary>Counts a query's rows and its duration since <paramref name="since"/>; returns the result.</summary>
    public QueryResult Queried(QueryResult result, long since)
    {
        Read(result.RowCount);
        Operation(since, "query");
        return result;
    }

    public void Wrote(long rows, long since, string operation)
    {
        Written(rows);
        Operation(since, operation);
    }

    public void Committed(int writes) => metrics.GroupCommitSize.Record(writes, _pool);

    public void Read(long rows) => metrics.RowsRead.Add(rows, _pool);

    public void Written(long rows) => metrics.RowsWritten.Add(rows, _pool);

    /// <summary>A timestamp to measure an operation from, or 0 when no listener wants durations (nothing to pay then).</summary>
    public long OperationStart() => metrics.OperationDuration.Enabled ? time.GetTimestamp() : 0;

    /// <summary>A timestamp to measure a connection's wait and use from, or 0 when no listener wants them.</summary>
    public long ConnectionStart() => metrics.WaitTime.Enabled || metrics.UseTime.Enabled ? time.GetTimestamp() : 0;
}
