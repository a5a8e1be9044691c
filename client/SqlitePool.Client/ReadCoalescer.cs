using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime.CompilerServices;

namespace SqlitePool.Client;

/// <summary>
/// Lets concurrent reads of one database from this process share grain calls. While fewer than
/// <see cref="MaxCallsInFlight"/> read calls are in flight a read is sent at once, on its own; beyond that it
/// waits, and the next call to end sends everything waiting as one <see cref="IDatabaseGrain.QueryEachAsync"/>
/// (which the silo runs with a single hand-off to a reader). Each read still gets its own result or error.
/// </summary>
/// <remarks>One per grain factory and database, shared by every handle; dropped when idle. Reads that carry
/// something of their caller's (a cancellation token, <see cref="RequestContext"/> values, a trace) go alone.</remarks>
internal sealed class ReadCoalescer
{
    /// <summary>Read calls in flight per database before reads start to wait and share a call.</summary>
    public const int MaxCallsInFlight = 4;

    /// <summary>The most reads one shared call carries.</summary>
    public const int MaxBatch = 512;

    private static readonly ConditionalWeakTable<IGrainFactory, ConcurrentDictionary<string, ReadCoalescer>> Factories = new();
    private readonly object _gate = new();
    private readonly ConcurrentDictionary<string, ReadCoalescer> _owner;
    private readonly string _key;
    private readonly IDatabaseGrain _grain;
    private List<PendingRead> _waiting = [];
    private int _calls;
    private bool _retired;

    private ReadCoalescer(ConcurrentDictionary<string, ReadCoalescer> owner, string key, IDatabaseGrain grain)
    {
        (_owner, _key, _grain) = (owner, key, grain);
    }

    /// <summary>Runs a read, sharing a call with other reads of this database when many are in flight.</summary>
    public static Task<QueryResult> QueryAsync(IGrainFactory factory, IDatabaseGrain grain, Statement statement)
    {
        ArgumentNullException.ThrowIfNull(statement);
        if (Activity.Current is not null || RequestContext.Entries.Any())
        {
            return grain.QueryAsync(statement);
        }

        var databases = Factories.GetValue(factory, static _ => new(StringComparer.Ordinal));
        var key = grain.GetPrimaryKeyString();
        while (true)
        {
            var coalescer = databases.GetOrAdd(key, static (k, state) => new ReadCoalescer(state.databases, k, state.grain), (databases, grain));
            if (coalescer.TryQuery(statement) is { } read)
            {
                return read;
            }
        }
    }

    /// <summary>Null when this coalescer has retired (look it up again).</summary>
    private Task<QueryResult>? TryQuery(Statement statement)
    {
        lock (_gate)
        {
            if (_retired)
            {
                return null;
            }

            if (_calls >= MaxCallsInFlight)
            {
                var waiting = new PendingRead(statement);
                _waiting.Add(waiting);
                return waiting.Task;
            }

            _calls++;
        }

        return SendAloneAsync(statement);
    }

    // Sent from the caller's context, as the read would have been without the coalescer.
    private async Task<QueryResult> SendAloneAsync(Statement statement)
    {
        try
        {
            return await _grain.QueryAsync(statement).ConfigureAwait(false);
        }
        finally
        {
            CallEnded();
        }
    }

    /// <summary>A call ended: its slot sends what waits, or is given back.</summary>
    private void CallEnded()
    {
        List<PendingRead> batch;
        lock (_gate)
        {
            if (_waiting.Count == 0)
            {
                if (--_calls == 0)
                {
                    _retired = true;
                    _owner.TryRemove(KeyValuePair.Create(_key, this));
                }

                return;
            }

            batch = _waiting;
            if (batch.Count > MaxBatch)
            {
                _waiting = batch[MaxBatch..];
                batch.RemoveRange(MaxBatch, batch.Count - MaxBatch);
            }
            else
            {
                _waiting = [];
            }
        }

        // Shared calls start from the thread pool, never from whichever grain's turn ended the last call.
        ThreadPool.UnsafeQueueUserWorkItem(static s => _ = s.Coalescer.SendAsync(s.Batch), (Coalescer: this, Batch: batch), preferLocal: false);
    }

    private async Task SendAsync(List<PendingRead> batch)
    {
        try
        {
            if (batch.Count == 1)
            {
                batch[0].Complete(new QueryOutcome(await _grain.QueryAsync(batch[0].Statement).ConfigureAwait(false), null));
            }
            else
            {
                var outcomes = await _grain.QueryEachAsync([.. batch.Select(r => r.Statement)]).ConfigureAwait(false);
                for (var i = 0; i < batch.Count; i++)
                {
                    batch[i].Complete(outcomes[i]);
                }
            }
        }
        catch (Exception ex)
        {
            // A single read's own error, or the call's (the silo, the network) for every read it carried.
            batch.ForEach(r => r.Complete(new QueryOutcome(null, ex)));
        }
        finally
        {
            CallEnded();
        }
    }

    private sealed class PendingRead(Statement statement)
    {
        private readonly TaskCompletionSource<QueryResult> _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Statement Statement { get; } = statement;

        public Task<QueryResult> Task => _completion.Task;

        public void Complete(QueryOutcome outcome)
        {
            if (outcome.Result is { } result)
            {
                _completion.TrySetResult(result);
            }
            else
            {
                _completion.TrySetException(outcome.Error ?? new InvalidOperationException("The read has no outcome."));
            }
        }
    }
}
