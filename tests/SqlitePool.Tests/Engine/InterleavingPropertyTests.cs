using CsCheck;
using SqlitePool.Engine;

namespace SqlitePool.Tests.Engine;

/// <summary>
/// Random interleavings of leases, executes, queries, exclusive access, revocation, cancellation and close: after every
/// step invariants 1–4 hold and the statistics add up; at the end every call has an answer and the pool is idle.
/// </summary>
public sealed class InterleavingPropertyTests : PoolTestBase
{
    private enum Op
    {
        Reader,
        Writer,
        Exclusive,
        Release,
        Revoke,
        Insert,
        Query,
        CancelledQuery,
    }

    [Fact]
    public async Task Invariants_hold_after_every_step_of_random_interleavings()
    {
        var iteration = 0;
        await Gen.Enum<Op>().Array[1, 40].Select(Gen.Bool).SampleAsync(async (ops, closeAtEnd) =>
        {
            var pool = await OpenAsync(o =>
            {
                o.MaxReaders = 2;
                o.AcquireTimeout = TimeSpan.FromMilliseconds(300);
            }, name: $"prop-{iteration++}.db");
            await pool.ExecuteAsync(new Statement("CREATE TABLE t(v)"), Ct);
            var acquisitions = new List<(LeaseKind Kind, Task<PoolLease> Task)>();
            var released = new HashSet<PoolLease>();
            var calls = new List<Task>();
            var inserts = new List<Task<ExecuteResult>>();

            foreach (var op in ops)
            {
                switch (op)
                {
                    case Op.Reader or Op.Writer or Op.Exclusive:
                        var kind = op == Op.Reader ? LeaseKind.Reader : op == Op.Writer ? LeaseKind.Writer : LeaseKind.Exclusive;
                        acquisitions.Add((kind, pool.AcquireAsync(kind, Ct)));
                        break;
                    case Op.Release when acquisitions.FirstOrDefault(a => a.Task.IsCompletedSuccessfully && !released.Contains(a.Task.Result)) is { Task: not null } held:
                        released.Add(held.Task.Result);
                        calls.Add(held.Task.Result.DisposeAsync().AsTask());
                        break;
                    case Op.Revoke when acquisitions.FirstOrDefault(a => a.Task.IsCompletedSuccessfully && !released.Contains(a.Task.Result)) is { Task: not null } abandoned:
                        released.Add(abandoned.Task.Result);
                        calls.Add(pool.RevokeAsync(abandoned.Task.Result.Id, "its holder is gone"));
                        break;
                    case Op.Insert:
                        var insert = pool.ExecuteAsync(new Statement("INSERT INTO t VALUES (1)"), Ct);
                        inserts.Add(insert);
                        calls.Add(insert);
                        break;
                    case Op.Query:
                        calls.Add(pool.QueryAsync(new Statement("SELECT count(*) FROM t"), Ct));
                        break;
                    case Op.CancelledQuery:
                        using (var cancel = new CancellationTokenSource())
                        {
                            calls.Add(pool.QueryAsync(new Statement("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"), cancel.Token));
                            await cancel.CancelAsync();
                        }

                        break;
                }

                await Task.Yield();
                CheckInvariants(pool, acquisitions, released);
            }

            // Give everything back; acquisitions still waiting are granted in turn or time out.
            using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            while (acquisitions.FirstOrDefault(a => !a.Task.IsCompleted || (a.Task.IsCompletedSuccessfully && !released.Contains(a.Task.Result))) is { Task: not null } pending)
            {
                try
                {
                    var lease = await pending.Task.WaitAsync(deadline.Token);
                    released.Add(lease);
                    await lease.DisposeAsync();
                }
                catch (Exception ex) when (ex is DatabaseTimeoutException or DatabaseClosedException)
                {
                }

                CheckInvariants(pool, acquisitions, released);
            }

            if (closeAtEnd)
            {
                await pool.CloseAsync().WaitAsync(deadline.Token);
            }

            foreach (var call in calls)
            {
                try
                {
                    await call.WaitAsync(deadline.Token);
                }
                catch (Exception ex) when (ex is DatabaseTimeoutException or OperationCanceledException or DatabaseClosedException)
                {
                }
            }

            var stats = pool.GetStatistics();
            Assert.Equal((false, false, 0, 0, 0, 0, 0), (stats.WriterBusy, stats.ExclusiveHeld, stats.ReadersBusy, stats.WriterWaiters, stats.ReaderWaiters, stats.ExclusiveWaiters, stats.Leases.Length));
            if (!closeAtEnd)
            {
                Assert.Equal((long)inserts.Count(i => i.IsCompletedSuccessfully), await CountAsync(pool));
            }
        }, iter: 60, threads: 1);
    }

    private static void CheckInvariants(DatabasePool pool, List<(LeaseKind Kind, Task<PoolLease> Task)> acquisitions, HashSet<PoolLease> released)
    {
        // Held leases first: a lease is registered before its acquisition completes, so everything seen held
        // now is still counted by the statistics taken after.
        var held = acquisitions.Where(a => a.Task.IsCompletedSuccessfully && !released.Contains(a.Task.Result)).Select(a => a.Kind).ToList();
        var stats = pool.GetStatistics();
        Assert.Equal(stats.ReadersOpen, stats.ReadersIdle + stats.ReadersBusy);
        Assert.InRange(stats.ReadersOpen, 0, stats.MaxReaders);
        Assert.True(held.Count(k => k != LeaseKind.Reader) <= 1, "two writers at once");
        if (held.Contains(LeaseKind.Exclusive))
        {
            Assert.Single(held);
        }

        if (stats.ExclusiveHeld)
        {
            Assert.True(stats.WriterBusy);
            Assert.Equal(0, stats.ReadersBusy);
        }

        Assert.True(stats.Leases.Length >= held.Count);
        Assert.True(held.Count(k => k == LeaseKind.Reader) <= stats.ReadersBusy);
    }
}
