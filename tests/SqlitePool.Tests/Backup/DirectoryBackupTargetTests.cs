using SqlitePool.Engine.Backup;
using SqlitePool.Tests.Support;

namespace SqlitePool.Tests.Backup;

public sealed class DirectoryBackupTargetTests : IDisposable
{
    private readonly TempDirectory _directory = new();

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Objects_are_stored_replaced_listed_in_order_and_deleted()
    {
        var target = new DirectoryBackupTarget(_directory.File("root"));
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
        Assert.Empty(await target.ListAsync("nothing/", Ct));

        await target.DeleteAsync("a/db/segments/2", Ct);
        await target.DeleteAsync("a/db/segments/2", Ct);
        Assert.Null(await target.GetAsync("a/db/segments/2", Ct));
        Assert.Empty(Directory.EnumerateFiles(target.Root, "*.partial", SearchOption.AllDirectories));
    }

    [Theory]
    [InlineData("../outside")]
    [InlineData("a/../../outside")]
    [InlineData("/etc/passwd")]
    [InlineData("a//b")]
    [InlineData("./a")]
    public async Task A_key_that_could_leave_the_root_is_refused(string key)
    {
        var target = new DirectoryBackupTarget(_directory.File("root"));
        await Assert.ThrowsAsync<ArgumentException>(() => target.PutAsync(key, new byte[] { 1 }, Ct));
        Assert.False(File.Exists(_directory.File("outside")));
    }

    public void Dispose() => _directory.Dispose();
}
