namespace SqlitePool.Tests.Support;

/// <summary>Waits for a condition the cluster reaches on its own (membership, expiry), with a deadline.</summary>
internal static class ClusterWaits
{
    public static async Task UntilAsync(Func<Task<bool>> condition, int seconds = 30)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        deadline.CancelAfter(TimeSpan.FromSeconds(seconds));
        while (!await condition())
        {
            await Task.Delay(20, deadline.Token);
        }
    }
}
