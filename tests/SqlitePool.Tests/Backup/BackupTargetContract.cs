using SqlitePool.Engine.Backup;

namespace SqlitePool.Tests.Backup;

/// <summary>What every backup target does, checked against each (a directory, Azure Blob Storage through Azurite).</summary>
public abstract class BackupTargetContract
{
    protected static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>A new, empty target.</summary>
    protected abstract Task<IBackupTarget> TargetAsync();

    [Fact]
    public async Task Objects_are_stored_replaced_listed_in_order_and_deleted()
    {
        var target = await TargetAsync();
        Assert.Empty(await target.ListAsync("a/", Ct));
        Assert.Null(await target.GetAsync("a/db/segments/1", Ct));
        await target.DeleteAsync("a/db/segments/1", Ct);

        await target.PutAsync("a/db/segments/2", new byte[] { 2 }, Ct);
        await target.PutAsync("a/db/segments/10", new byte[] { 10 }, Ct);
        await target.PutAsync("a/db/snapshots/1", new byte[] { 1 }, Ct);
        await target.PutAsync("a/dbx/segments/1", new byte[] { 9 }, Ct);
        await target.PutAsync("a/db/segments/2", new byte[] { 22, 22 }, Ct);

        Assert.Equal(["a/db/segments/10", "a/db/segments/2", "a/db/snapshots/1"], await target.ListAsync("a/db/", Ct));
        Assert.Equal(["a/db/segments/10", "a/db/segments/2"], await target.ListAsync("a/db/segments/", Ct));
        Assert.Equal(4, (await target.ListAsync("", Ct)).Count);
        Assert.Equal([22, 22], await target.GetAsync("a/db/segments/2", Ct));
        Assert.Null(await target.GetAsync("a/db/segments/3", Ct));

        await target.DeleteAsync("a/db/segments/2", Ct);
        await target.DeleteAsync("a/db/segments/2", Ct);
        Assert.Null(await target.GetAsync("a/db/segments/2", Ct));
        Assert.Equal(["a/db/segments/10", "a/db/snapshots/1"], await target.ListAsync("a/db/", Ct));
    }

    [Fact]
    public async Task A_large_object_comes_back_byte_for_byte()
    {
        var target = await TargetAsync();
        var content = new byte[9 << 20];
        new Random(7).NextBytes(content);
        await target.PutAsync("big/object", content, Ct);
        Assert.Equal(content, await target.GetAsync("big/object", Ct));
    }
}
