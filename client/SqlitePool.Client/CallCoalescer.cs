using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime.CompilerServices;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Orleans.Configuration;

namespace SqlitePool.Client;

/// <summary>The calls of one kind of statement (reads or autocommit writes) to one kind of target (a database grain, or
/// the silo-local calls of a database on this silo): alone, or several together (given when the first of them began
/// to wait, on the local calls' clock; a grain call has its own timeout).</summary>
internal sealed record StatementCalls<T>(
    bool Local,
    Func<object, Statement, Task<T>> One,
    Func<object, Statement[], long, Task<(T? Result, Exception? Error)[]>> Each)
    where T : class;

/// <summary>The kinds of statements whose concurrent calls share calls.</summary>
internal static class SharedCalls
{
    public static readonly StatementCalls<QueryResult> Reads = new(
        false,
        static (grain, statement) => ((IDatabaseGrain)grain).QueryAsync(statement),
        static async (grain, statements, _) => [.. (await ((IDatabaseGrain)grain).QueryEachAsync(statements).ConfigureAwait(false)).Select(o => (o.Result, o.Error))]);

    public static readonly StatementCalls<ExecuteResult> Writes = new(
        false,
        static (grain, statement) => ((IDatabaseGrain)grain).ExecuteAsync(statement),
        static async (grain, statements, _) => [.. (await ((IDatabaseGrain)grain).ExecuteEachAsync(statements).ConfigureAwait(false)).Select(o => (o.Result, o.Error))]);

    /// <summary>Reads of a database on this silo: alone on the caller's thread where a reader is free, many together in
    /// one hand-off to a reader and one snapshot (<see cref="ISiloLocalCalls.QueryEachAsync(Statement[], long)"/>) when
    /// they pile up, their wait for a reader counted from when the first began to wait.</summary>
    public static readonly StatementCalls<QueryResult> LocalReads = new(
        true,
        static (local, statement) => ((ISiloLocalCalls)local).QueryAsync(statement, CancellationToken.None),
        static async (local, statements, since) => [.. (await ((ISiloLocalCalls)local).QueryEachAsync(statements, since).ConfigureAwait(false)).Select(o => (o.Result, o.Error))]);
}

/// <summary>
/// Lets concurrent calls of one kind (<see cref="SharedCalls"/>) to one database from this process share grain
/// calls (or, for a database of this silo, hand-offs to its pool). While fewer than <see cref="MaxCallsInFlight"/> calls are in flight a statement is sent at once, on its
/// own; beyond that it waits, and the next call to end sends everything waiting as one call
/// (<see cref="IDatabaseGrain.QueryEachAsync"/>, <see cref="IDatabaseGrain.ExecuteEachAsync"/>), which the silo
/// hands to its connection in one piece. Each statement still gets its own result or error.
/// </summary>
/// <remarks>One per grain factory, database and kind, shared by every handle; dropped when idle. Statements that
/// carry something of their caller's (a cancellation token, <see cref="RequestContext"/> values, a trace) go alone.
/// Waiting is bounded: at most <see cref="MaxWaiting"/> statements wait (more go alone, to the silo's own bounded
/// queues), and a statement not answered within the response timeout of its process from when it began to wait gets
/// a <see cref="DatabaseTimeoutException"/>, whatever became of the call that carries it. A silo-local read has no
/// message to time out: it keeps the database's own <c>AcquireTimeout</c>, counted from when it began to wait here
/// (unsent by then, it gets the error; sent, the pool counts its wait from then).</remarks>
internal sealed class CallCoalescer<T>
    where T : class
{
    /// <summary>Calls in flight per database and kind before statements start to wait and share a call.</summary>
    public const int MaxCallsInFlight = 8;

    /// <summary>The most statements waiting for a shared call per database and kind; more are sent alone.</summary>
    public const int MaxWaiting = 4096;

    /// <summary>The most statements one shared call carries.</summary>
    public const int MaxBatch = 256;

    private static readonly ConditionalWeakTable<IGrainFactory, Shared> Factories = new();
    private readonly object _gate = new();
    private readonly Shared _owner;
    private readonly string _key;
    private readonly object _target;
    private readonly StatementCalls<T> _calls;
    private List<Pending> _waiting = [];
    private int _inFlight;
    private bool _retired;

    private CallCoalescer(Shared owner, string key, object target, StatementCalls<T> calls)
    {
        (_owner, _key, _target, _calls) = (owner, key, target, calls);
    }

    /// <summary>Runs a statement, sharing a call with others of this database and kind when many are in flight. The
    /// target is the database's grain, or its silo-local calls, as <paramref name="calls"/> takes.</summary>
    public static Task<T> RunAsync(IGrainFactory factory, object target, string key, Statement statement, StatementCalls<T> calls)
    {
        ArgumentNullException.ThrowIfNull(statement);
        if (Activity.Current is not null || RequestContext.Entries.Any())
        {
            return calls.One(target, statement);
        }

        var shared = Factories.GetValue(factory, static f => new Shared(f));
        var databases = shared.DatabasesFor(calls);
        while (true)
        {
            var coalescer = databases.GetOrAdd(key, static (k, s) => new CallCoalescer<T>(s.shared, k, s.target, s.calls), (shared, target, calls));
            if (coalescer.TryRun(statement) is { } run)
            {
                return run;
            }
        }
    }

    /// <summary>Null when this coalescer has retired (look it up again).</summary>
    private Task<T>? TryRun(Statement statement)
    {
        lock (_gate)
        {
            if (_retired)
            {
                return null;
            }

            if (_inFlight >= MaxCallsInFlight && _waiting.Count < MaxWaiting)
            {
                var local = _calls.Local ? (ISiloLocalCalls)_target : null;
                var waiting = new Pending(statement) { Since = local?.Time.GetTimestamp() ?? 0 };
                _waiting.Add(waiting);
                return local is null ? WithinResponseTimeoutAsync(waiting) : WithinAcquireTimeoutAsync(waiting, local);
            }

            _inFlight++;
        }

        return SendAloneAsync(statement);
    }

    /// <summary>A waiting statement's answer, or a typed timeout once it has waited the process's response timeout:
    /// one still waiting is never sent then (nothing of it ran); one already sent may have run.</summary>
    private async Task<T> WithinResponseTimeoutAsync(Pending waiting)
    {
        try
        {
            return await waiting.Task.WaitAsync(_owner.ResponseTimeout).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            if (waiting.Task.IsCompleted)
            {
                // Answered just as the time ran out.
                return await waiting.Task.ConfigureAwait(false);
            }

            bool unsent;
            lock (_gate)
            {
                unsent = _waiting.Remove(waiting);
            }

            var what = unsent ? "a shared call to carry a statement (it was not sent)" : "the shared call carrying a statement (it may have run)";
            throw new DatabaseTimeoutException(_key, what, _owner.ResponseTimeout, _owner.ResponseTimeoutSetting);
        }
    }

    /// <summary>A waiting silo-local read's answer, or a typed timeout once it has waited the database's acquisition
    /// limit unsent (nothing of it ran). One sent by then keeps the pool's limits, which count its wait from the same
    /// instant (<see cref="ISiloLocalCalls.QueryEachAsync(Statement[], long)"/>): a slow read that got its reader is
    /// never failed here.</summary>
    private async Task<T> WithinAcquireTimeoutAsync(Pending waiting, ISiloLocalCalls local)
    {
        var limit = local.AcquireTimeout;
        try
        {
            return await waiting.Task.WaitAsync(limit, local.Time).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            bool unsent;
            lock (_gate)
            {
                unsent = _waiting.Remove(waiting);
            }

            if (!unsent)
            {
                // Answered (maybe with the pool's own timeout) or sent.
                return await waiting.Task.ConfigureAwait(false);
            }

            // The setting the pool names for the same wait.
            throw new DatabaseTimeoutException(_key, "a reader (the read waited in this process for a shared hand-off, and was not sent)", limit, "AcquireTimeout");
        }
    }

    // Sent from the caller's context, as the statement would have been without the coalescer.
    private async Task<T> SendAloneAsync(Statement statement)
    {
        try
        {
            return await _calls.One(_target, statement).ConfigureAwait(false);
        }
        finally
        {
            CallEnded();
        }
    }

    /// <summary>A call ended: its slot sends what waits, or is given back.</summary>
    private void CallEnded()
    {
        List<Pending> batch;
        lock (_gate)
        {
            if (_waiting.Count == 0)
            {
                if (--_inFlight == 0)
                {
                    _retired = true;
                    _owner.DatabasesFor(_calls).TryRemove(KeyValuePair.Create(_key, this));
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

    private async Task SendAsync(List<Pending> batch)
    {
        try
        {
            // A local read alone goes as a call of one too: sent from the thread pool, it must not run on that thread.
            if (batch.Count == 1 && !_calls.Local)
            {
                batch[0].Complete(await _calls.One(_target, batch[0].Statement).ConfigureAwait(false), null);
            }
            else
            {
                // The first waited longest: in the pool, no read of the batch waits for a reader past its limit (a later
                // one may be failed before its own, by as much as it came after the first: about one call's time).
                var outcomes = await _calls.Each(_target, [.. batch.Select(r => r.Statement)], batch[0].Since).ConfigureAwait(false);
                for (var i = 0; i < batch.Count; i++)
                {
                    batch[i].Complete(outcomes[i].Result, outcomes[i].Error);
                }
            }
        }
        catch (Exception ex)
        {
            // A single statement's own error, or the call's (the silo, the network) for every statement it carried.
            batch.ForEach(r => r.Complete(null, ex));
        }
        finally
        {
            CallEnded();
        }
    }

    /// <summary>The coalescers of one grain factory, and the response timeout of its process.</summary>
    private sealed class Shared(IGrainFactory factory)
    {
        private readonly ConcurrentDictionary<string, CallCoalescer<T>> _grainCalls = new(StringComparer.Ordinal);
        private readonly ConcurrentDictionary<string, CallCoalescer<T>> _localCalls = new(StringComparer.Ordinal);

        /// <summary>The coalescers by database of <paramref name="calls"/>' kind of target: grain calls and silo-local
        /// calls never share one.</summary>
        public ConcurrentDictionary<string, CallCoalescer<T>> DatabasesFor(StatementCalls<T> calls) => calls.Local ? _localCalls : _grainCalls;

        /// <summary>A client's configured response timeout; Orleans' default where the factory does not tell (in a silo).</summary>
        public TimeSpan ResponseTimeout { get; } =
            (factory as IClusterClient)?.ServiceProvider.GetService<IOptions<ClientMessagingOptions>>()?.Value.ResponseTimeout
            ?? new ClientMessagingOptions().ResponseTimeout;

        /// <summary>In a silo the grain factory does not tell its response timeout: Orleans' default is assumed.</summary>
        public string ResponseTimeoutSetting => factory is IClusterClient ? "ClientMessagingOptions.ResponseTimeout" : "SiloMessagingOptions.ResponseTimeout (30 s assumed by the client library inside a silo)";
    }

    private sealed class Pending(Statement statement)
    {
        private readonly TaskCompletionSource<T> _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Statement Statement { get; } = statement;

        /// <summary>When a silo-local read began to wait (a timestamp of its local calls' clock).</summary>
        public long Since { get; init; }

        public Task<T> Task => _completion.Task;

        public void Complete(T? result, Exception? error)
        {
            if (result is not null)
            {
                _completion.TrySetResult(result);
            }
            else
            {
                _completion.TrySetException(error ?? new InvalidOperationException("The statement has no outcome."));
            }
        }
    }
}
