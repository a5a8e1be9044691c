using SqlitePool.Engine;
using SqlitePool.Engine.Backup;
using SqlitePool.Tests.Engine;
using SqlitePool.Tests.Process;

namespace SqlitePool.Tests.Backup;

/// <summary>Azure Blob Storage (a real Azurite process) stopped for 10 s under a 64-writer load, then started again:
/// writes go on, the backup reports the failure, and shipping resumes with no gap.</summary>
public sealed class BackupOutageTests : PoolTestBase
{
    [Fact]
    public async Task Shipping_resumes_with_no_gap_after_the_target_was_down_for_ten_seconds()
    {
        if (!ServerProcess.AzuriteInstalled)
        {
            Assert.Skip("Azurite is not installed; tests/run.sh installs it into tests/azurite.");
        }

        var port = ServerProcess.FreePort();
        var location = Directory.File("azurite");
        System.IO.Directory.CreateDirectory(location);
        var azurite = await ServerProcess.StartAzuriteAsync(location, port);
        var target = new AzureBlobBackupTarget(ServerProcess.AzuriteConnectionString(port), "outage");
        try
        {
            var pool = await OpenAsync(o => o.Backup = new BackupOptions { Target = target, Interval = TimeSpan.FromMilliseconds(200) });
            await pool.ExecuteAsync(new Statement("CREATE TABLE t(id INTEGER PRIMARY KEY, v)"), Ct);
            await pool.FlushBackupAsync(TimeSpan.FromSeconds(30));

            using var stop = new CancellationTokenSource();
            var written = 0L;
            var load = Enumerable.Range(0, 64).Select(_ => Task.Run(async () =>
            {
                while (!stop.IsCancellationRequested)
                {
                    await pool.ExecuteAsync(new Statement("INSERT INTO t(v) VALUES (randomblob(200))"), Ct);
                    Interlocked.Increment(ref written);
                }
            })).ToArray();

            await Task.Delay(1000, Ct);
            await azurite.StopAsync();
            var writtenWhenDown = Interlocked.Read(ref written);
            for (var i = 0; i < 10; i++)
            {
                await Task.Delay(TimeSpan.FromSeconds(1), Ct);
                TestContext.Current.TestOutputHelper?.WriteLine($"{i}: {pool.GetStatistics().Backup}");
            }

            var down = pool.GetStatistics().Backup!;
            Assert.True(Interlocked.Read(ref written) > writtenWhenDown + 1000, "writes went on while the target was down");
            Assert.NotNull(down.Error);
            Assert.True(down.LagSeconds > 5, $"lag {down.LagSeconds} s, {down.LagBytes} bytes: {down.Error}");

            await using var back = await ServerProcess.StartAzuriteAsync(location, port);
            await Task.Delay(1000, Ct);
            await stop.CancelAsync();
            await Task.WhenAll(load);
            await pool.FlushBackupAsync(TimeSpan.FromSeconds(60));
            Assert.Null(pool.GetStatistics().Backup!.Error);

            // No gap: the chain is the one snapshot it started with, and every segment after it follows on.
            var (snapshots, segments) = BackupChain.Parse(pool.Database, await target.ListAsync(pool.Database + "/", Ct));
            Assert.Single(snapshots);
            var restored = await BackupRestore.RestoreAsync(target, pool.Database, RestorePoint.Latest, Directory.File("restored.db"), Ct);
            Assert.Equal(pool.TransactionId, restored.Transaction);
            var expected = (await pool.QueryAsync(new Statement(ContinuousBackupTests.Fingerprint), Ct))[0, 0];
            Assert.Equal(expected, ContinuousBackupTests.Scalar(Directory.File("restored.db"), ContinuousBackupTests.Fingerprint));
            TestContext.Current.TestOutputHelper?.WriteLine($"{Interlocked.Read(ref written)} writes, {segments.Count} segments; while down: lag {down.LagSeconds} s, {down.LagBytes} bytes ({down.Error})");
        }
        finally
        {
            await azurite.DisposeAsync();
        }
    }
}
