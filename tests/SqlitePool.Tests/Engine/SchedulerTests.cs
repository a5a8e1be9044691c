using SqlitePool.Engine;
using SqlitePool.Hosting;
using SqlitePool.Tests.Support;

namespace SqlitePool.Tests.Engine;

/// <summary>The silo-wide scheduler: threads bounded whatever the number of databases, and long statements never
/// starve short ones. Run alone: the process's thread count is part of what they check.</summary>
[Collection(ProcessThreadsCollection.Name)]
public sealed class SchedulerTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Threads_stay_bounded_while_2000_databases_are_opened_and_used()
    {
        using var directory = new TempDirectory();
        using var scheduler = new SqliteScheduler(new SqliteSchedulerOptions { MinThreads = 2, MaxThreads = 6 });
        await using var registry = new DatabasePoolRegistry(TimeProvider.System, scheduler: scheduler);
        var threadsBefore = System.Diagnostics.Process.GetCurrentProcess().Threads.Count;
        var peakProcessThreads = 0;

        // 2,000 databases, each opened, written and read, 32 at a time; all stay open until the end.
        await Parallel.ForEachAsync(Enumerable.Range(0, 2000), new ParallelOptions { MaxDegreeOfParallelism = 32, CancellationToken = Ct }, async (i, ct) =>
        {
            var pool = await registry.GetOrOpenAsync($"t{i}.db", directory.File($"tenants/t{i}.db"), new DatabaseOptions(), null);
            await pool.ExecuteAsync(new Statement("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)"), ct);
            await pool.ExecuteAsync(new Statement("INSERT INTO t(v) VALUES (?)", $"tenant {i}"), ct);
            Assert.Equal($"tenant {i}", (await pool.QueryAsync(new Statement("SELECT v FROM t WHERE id = 1"), ct))[0, 0]);
            if (i % 100 == 0)
            {
                var now = System.Diagnostics.Process.GetCurrentProcess().Threads.Count;
                InterlockedMax(ref peakProcessThreads, now);
            }
        });

        Assert.Equal(2000, registry.OpenPools.Count);
        Assert.InRange(scheduler.PeakThreads, 1, 6);

        // Everything else in the process (thread pool, timers, the test host) is a small constant beside it: a thread
        // per connection would be 4,000 and more.
        Assert.InRange(peakProcessThreads - threadsBefore, -1000, 6 + 40);
    }

    [Fact]
    public async Task Long_statements_on_every_thread_do_not_stop_a_point_query_on_another_database()
    {
        using var directory = new TempDirectory();
        using var scheduler = new SqliteScheduler(new SqliteSchedulerOptions { MinThreads = 2, MaxThreads = 8, StallLimit = TimeSpan.FromMilliseconds(20) });
        await using var registry = new DatabasePoolRegistry(TimeProvider.System, scheduler: scheduler);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(Ct);

        // As many endless statements as the scheduler has threads, each on a database of its own; each says when it runs.
        var running = new List<Task>();
        var statements = new List<Task>();
        for (var i = 0; i < scheduler.Options.MinThreads; i++)
        {
            var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var pool = await registry.GetOrOpenAsync($"long{i}.db", directory.File($"long{i}.db"), new DatabaseOptions(),
                context => context.Connection.CreateFunction("running", () => { started.TrySetResult(); return 1L; }));
            statements.Add(pool.ExecuteAsync(new Statement("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE running()) SELECT count(*) FROM n"), stop.Token));
            running.Add(started.Task);
        }

        await Task.WhenAll(running).WaitAsync(TimeSpan.FromSeconds(30), Ct);
        var other = await registry.GetOrOpenAsync("point.db", directory.File("point.db"), new DatabaseOptions(), null);

        // On a reader of its own (alone, a read would borrow the writer, whose threads the minimum does not count).
        await using var lease = await other.AcquireAsync(LeaseKind.Reader, Ct).WaitAsync(TimeSpan.FromSeconds(30), Ct);
        var answer = await lease.QueryAsync(new Statement("SELECT 42"), Ct).WaitAsync(TimeSpan.FromSeconds(30), Ct);

        Assert.Equal(42L, answer[0, 0]);
        Assert.Equal(0, scheduler.ThreadsAddedForStalls); // a writer's thread is not counted: another started at once
        Assert.All(statements, s => Assert.False(s.IsCompleted));
        await stop.CancelAsync();
        foreach (var statement in statements)
        {
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => statement);
        }
    }

    [Fact]
    public async Task Long_reads_on_every_thread_are_noticed_as_stuck_and_a_thread_is_added_for_a_point_query()
    {
        using var directory = new TempDirectory();
        using var scheduler = new SqliteScheduler(new SqliteSchedulerOptions { MinThreads = 2, MaxThreads = 8, StallLimit = TimeSpan.FromMilliseconds(20) });
        await using var registry = new DatabasePoolRegistry(TimeProvider.System, scheduler: scheduler);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(Ct);

        // As many endless reads as the scheduler has threads, each on a database of its own.
        var reads = new List<Task>();
        var pools = new List<DatabasePool>();
        for (var i = 0; i < scheduler.Options.MinThreads; i++)
        {
            var pool = await registry.GetOrOpenAsync($"long{i}.db", directory.File($"long{i}.db"), new DatabaseOptions(), null);
            await (await pool.AcquireAsync(LeaseKind.Reader, Ct)).DisposeAsync(); // a reader is open: the read runs there
            reads.Add(pool.QueryAsync(new Statement("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT count(*) FROM n"), stop.Token));
            pools.Add(pool);
        }

        // Each read is running once its reader holds a snapshot.
        await ClusterWaits.UntilAsync(() => Task.FromResult(pools.All(p => p.OldestReaderSnapshot() is not null)));

        var other = await registry.GetOrOpenAsync("point.db", directory.File("point.db"), new DatabaseOptions(), null);

        // On a reader of its own (alone, a read would borrow the writer, whose threads the minimum does not count).
        await using var lease = await other.AcquireAsync(LeaseKind.Reader, Ct).WaitAsync(TimeSpan.FromSeconds(30), Ct);
        var answer = await lease.QueryAsync(new Statement("SELECT 42"), Ct).WaitAsync(TimeSpan.FromSeconds(30), Ct);

        Assert.Equal(42L, answer[0, 0]);
        Assert.True(scheduler.ThreadsAddedForStalls >= 1, "the stuck threads were noticed and one was added");
        Assert.All(reads, r => Assert.False(r.IsCompleted));
        await stop.CancelAsync();
        foreach (var read in reads)
        {
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => read);
        }
    }

    [Fact]
    public async Task Threads_added_for_stuck_work_end_while_a_trickle_of_work_goes_on()
    {
        using var directory = new TempDirectory();
        using var scheduler = new SqliteScheduler(new SqliteSchedulerOptions
        {
            MinThreads = 1, MaxThreads = 8, StallLimit = TimeSpan.FromMilliseconds(20), IdleThreadTimeout = TimeSpan.FromMilliseconds(500),
        });
        await using var registry = new DatabasePoolRegistry(TimeProvider.System, scheduler: scheduler);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(Ct);

        // A burst: endless reads on six databases, each on a reader; a thread is added for each as the others are stuck.
        var pools = new List<DatabasePool>();
        var reads = new List<Task>();
        for (var i = 0; i < 6; i++)
        {
            var pool = await registry.GetOrOpenAsync($"long{i}.db", directory.File($"long{i}.db"), new DatabaseOptions(), null);
            await (await pool.AcquireAsync(LeaseKind.Reader, Ct)).DisposeAsync();
            reads.Add(pool.QueryAsync(new Statement("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT count(*) FROM n"), stop.Token));
            pools.Add(pool);
        }

        await ClusterWaits.UntilAsync(() => Task.FromResult(pools.All(p => p.OldestReaderSnapshot() is not null)));
        Assert.InRange(scheduler.Threads, 6, 8);
        await stop.CancelAsync();
        foreach (var read in reads)
        {
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => read);
        }

        // Then a trickle: a write every 10 ms, far more often than the idle timeout. The thread that ran the last one
        // runs the next; the others, never woken, end.
        var trickle = await registry.GetOrOpenAsync("trickle.db", directory.File("trickle.db"), new DatabaseOptions { Synchronous = "NORMAL" }, null);
        await trickle.ExecuteAsync(new Statement("CREATE TABLE t(v)"), Ct);
        using var done = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var trickling = Task.Run(async () =>
        {
            while (!done.IsCancellationRequested)
            {
                await trickle.ExecuteAsync(new Statement("INSERT INTO t VALUES (1)"), Ct);
                await Task.Delay(10, Ct);
            }
        }, Ct);

        await ClusterWaits.UntilAsync(() => Task.FromResult(scheduler.Threads <= 2), seconds: 15);
        await done.CancelAsync();
        await trickling;
    }

    [Fact]
    public async Task A_thread_added_for_a_burst_ends_while_one_connection_stays_busy()
    {
        using var scheduler = new SqliteScheduler(new SqliteSchedulerOptions
        {
            MinThreads = 1, MaxThreads = 4, StallLimit = TimeSpan.FromMilliseconds(5), IdleThreadTimeout = TimeSpan.FromMilliseconds(200),
        });
        using var release = new ManualResetEventSlim();
        using var started = new CountdownEvent(2);
        foreach (var name in new[] { "a", "b" })
        {
            // Two connections stuck at once: the stall check adds a second thread.
            new ConnectionWorker(name, scheduler: scheduler).Post(new ActionItem(() => { started.Signal(); release.Wait(); }));
        }

        started.Wait(Ct);
        release.Set();

        // Then one connection whose every item posts the next: each slice ends with more to run. The thread that ran it
        // runs on; the other, woken for nothing each time before, ends at its idle timeout.
        var busy = new ConnectionWorker("busy", scheduler: scheduler);
        var ranOn = new System.Collections.Concurrent.ConcurrentDictionary<int, int>();
        using var stop = new CancellationTokenSource();
        void Next() => busy.Post(new ActionItem(() =>
        {
            ranOn.AddOrUpdate(Environment.CurrentManagedThreadId, 1, (_, n) => n + 1);
            Thread.SpinWait(2000);
            if (!stop.IsCancellationRequested)
            {
                Next();
            }
        }));
        Next();
        try
        {
            await ClusterWaits.UntilAsync(() => Task.FromResult(scheduler.Threads == 1), seconds: 10);
        }
        finally
        {
            await stop.CancelAsync();
        }

        Assert.True(ranOn.Count >= 1, "the busy connection's items ran");
    }

    [Fact]
    public async Task A_thread_that_ended_while_a_writer_waits_on_the_disk_starts_again_at_once_when_work_overlaps()
    {
        using var scheduler = new SqliteScheduler(new SqliteSchedulerOptions
        {
            MinThreads = 2, MaxThreads = 4, StallLimit = TimeSpan.FromSeconds(10), IdleThreadTimeout = TimeSpan.FromMilliseconds(50),
        });
        using var commit = new ManualResetEventSlim();
        using var writing = new ManualResetEventSlim();
        var writer = new ConnectionWorker("writer", scheduler: scheduler) { WaitsOnDisk = true };
        writer.Post(new ActionItem(() => { writing.Set(); commit.Wait(); }));
        writing.Wait(Ct);
        try
        {
            // Beside the writer's thread, which the minimum does not count, two connections run at once on two threads.
            RunTogether(scheduler);
            Assert.Equal(3, scheduler.PeakThreads);

            // Idle, one of them ends (the idle exit counts the writer's thread): one thread is left to run work.
            await ClusterWaits.UntilAsync(() => Task.FromResult(scheduler.Threads == 2));

            // Two connections at once again: the idle thread is woken for one, and a thread starts at once for the
            // other, as work arrives below the minimum; neither waits for the stall limit (10 s).
            RunTogether(scheduler);
            Assert.Equal(0, scheduler.ThreadsAddedForStalls);
            Assert.Equal(3, scheduler.PeakThreads);
        }
        finally
        {
            commit.Set();
        }
    }

    /// <summary>Runs an item on each of two connections and returns once both run at the same time.</summary>
    private static void RunTogether(SqliteScheduler scheduler)
    {
        using var both = new CountdownEvent(2);
        using var release = new ManualResetEventSlim();
        using var ended = new CountdownEvent(2);
        foreach (var name in new[] { "a", "b" })
        {
            new ConnectionWorker(name, scheduler: scheduler).Post(new ActionItem(() =>
            {
                both.Signal();
                release.Wait();
                ended.Signal();
            }));
        }

        try
        {
            Assert.True(both.Wait(TimeSpan.FromSeconds(30), Ct), "both items ran at once");
        }
        finally
        {
            release.Set();
            ended.Wait(Ct);
        }
    }

    [Fact]
    public async Task One_connections_work_runs_in_order_while_many_share_two_threads()
    {
        using var directory = new TempDirectory();
        using var scheduler = new SqliteScheduler(new SqliteSchedulerOptions { MinThreads = 2, MaxThreads = 2 });
        await using var registry = new DatabasePoolRegistry(TimeProvider.System, scheduler: scheduler);
        var pools = await Task.WhenAll(Enumerable.Range(0, 20).Select(i =>
            registry.GetOrOpenAsync($"o{i}.db", directory.File($"o{i}.db"), new DatabaseOptions(), c => Exec(c, "CREATE TABLE t(id INTEGER PRIMARY KEY, n INTEGER)"))));

        // 200 writes per database, all sent at once: each database's land in the order sent.
        await Task.WhenAll(pools.SelectMany(p => Enumerable.Range(0, 200).Select(n => p.ExecuteAsync(new Statement("INSERT INTO t(n) VALUES (?)", n), Ct))));

        foreach (var pool in pools)
        {
            var rows = await pool.QueryAsync(new Statement("SELECT n FROM t ORDER BY id"), Ct);
            Assert.Equal(Enumerable.Range(0, 200).Select(n => (long)n), Enumerable.Range(0, rows.RowCount).Select(r => (long)rows[r, 0]!));
        }

        Assert.Equal(2, scheduler.PeakThreads);
    }

    private static void Exec(DatabaseOpenContext context, string sql)
    {
        using var command = context.Connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    private sealed class ActionItem(Action run) : WorkItem
    {
        public override bool CancellationRequested => false;

        public override void Execute(Microsoft.Data.Sqlite.SqliteConnection connection) => run();
    }

    private static void InterlockedMax(ref int target, int value)
    {
        var current = Volatile.Read(ref target);
        while (value > current && Interlocked.CompareExchange(ref target, value, current) is var seen && seen != current)
        {
            current = seen;
        }
    }
}

/// <summary>Tests that count the process's threads run after the others, alone.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ProcessThreadsCollection
{
    public const string Name = "Process threads";
}
