using Microsoft.Extensions.Time.Testing;

namespace SqlitePool.Tests.Engine;

/// <summary>
/// A statement timeout interrupts only the statement whose deadline passed: when the sweeper finds a statement
/// overdue just as it ends, the next statement on that connection (the next read of a shared call, or the next
/// caller's) runs undisturbed.
/// </summary>
public sealed class StatementTimeoutRaceTests : PoolTestBase
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan Liveness = TimeSpan.FromSeconds(20);

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task An_overdue_statement_that_ends_before_its_interrupt_takes_nobody_elses_statement_with_it(bool sharedCall)
    {
        var clock = new PausingClock();
        var pool = await OpenAsync(o => (o.MaxReaders, o.StatementTimeout) = (1, Limit), clock);
        var (first, second) = (new Gate(1), new Gate(2));
        using (var lease = pool.AcquireLocal(LeaseKind.Reader))
        {
            lease.Connection.CreateFunction("first", first.Pass);
            lease.Connection.CreateFunction("second", second.Pass);
        }

        var reads = sharedCall
            ? pool.QueryEachAsync([new("SELECT first()"), new("SELECT second()")])
            : Task.FromResult<QueryOutcome[]>([]);
        var firstAlone = sharedCall ? null : pool.QueryAsync(new Statement("SELECT first()"), Ct);
        Assert.True(await first.Entered.WaitAsync(Liveness, Ct));

        // The sweeper finds the first statement overdue, and is held just after reading the clock.
        clock.PauseSweeperPast(clock.GetTimestamp() + (long)(Limit.TotalSeconds * clock.TimestampFrequency));
        var sweep = Task.Run(() => clock.AdvanceAsSweeper(Limit * 2), Ct);
        Assert.True(await clock.Paused.WaitAsync(Liveness, Ct));

        // Meanwhile the first statement ends and the next one starts on the same connection.
        first.Leave.Release();
        var secondAlone = sharedCall ? null : pool.QueryAsync(new Statement("SELECT second()"), Ct);
        Assert.True(await second.Entered.WaitAsync(Liveness, Ct));
        clock.Resume.Release();
        await sweep.WaitAsync(Liveness, Ct);
        second.Leave.Release();

        if (sharedCall)
        {
            var outcomes = await reads.WaitAsync(Liveness, Ct);
            Assert.Null(outcomes[1].Error);
            Assert.Equal(2L, outcomes[1].GetResult()[0, 0]);
        }
        else
        {
            Assert.Equal(1L, (await firstAlone!.WaitAsync(Liveness, Ct))[0, 0]);
            Assert.Equal(2L, (await secondAlone!.WaitAsync(Liveness, Ct))[0, 0]);
        }
    }

    /// <summary>A user function that says when a statement entered it and holds it until released.</summary>
    private sealed class Gate(long value)
    {

        public SemaphoreSlim Entered { get; } = new(0);

        public SemaphoreSlim Leave { get; } = new(0);

        public long Pass()
        {
            Entered.Release();
            return Leave.Wait(Liveness) ? value : -1;
        }
    }

    /// <summary>A fake clock whose sweeper thread can be held right after it reads a time past a mark.</summary>
    private sealed class PausingClock : FakeTimeProvider
    {
        [ThreadStatic]
        private static bool t_sweeping;

        private long _pauseAfter = long.MaxValue;

        public SemaphoreSlim Paused { get; } = new(0);

        public SemaphoreSlim Resume { get; } = new(0);

        public void PauseSweeperPast(long timestamp) => Volatile.Write(ref _pauseAfter, timestamp);

        public void AdvanceAsSweeper(TimeSpan by)
        {
            t_sweeping = true;
            try
            {
                Advance(by);
            }
            finally
            {
                t_sweeping = false;
            }
        }

        public override long GetTimestamp()
        {
            var now = base.GetTimestamp();
            if (t_sweeping && now > Volatile.Read(ref _pauseAfter) && Interlocked.Exchange(ref _pauseAfter, long.MaxValue) != long.MaxValue)
            {
                Paused.Release();
                Resume.Wait(Liveness);
            }

            return now;
        }
    }
}
