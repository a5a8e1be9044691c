using SqlitePool.Engine.Backup;
using SqlitePool.Tests.Support;

namespace SqlitePool.Tests.Backup;

public sealed class DirectoryBackupTargetTests : BackupTargetContract, IDisposable
{
    private readonly TempDirectory _directory = new();

    [Theory]
    [InlineData("../outside")]
    [InlineData("a/../../outside")]
    [InlineData("/etc/passwd")]
    [InlineData("a//b")]
    [InlineData("./a")]
    [InlineData("a\\..\\..\\outside")]
    [InlineData("c:outside")]
    public async Task A_key_that_could_leave_the_root_is_refused(string key)
    {
        var target = new DirectoryBackupTarget(_directory.File("root"));
        await Assert.ThrowsAsync<ArgumentException>(() => target.PutAsync(key, new byte[] { 1 }, Ct));
        Assert.False(File.Exists(_directory.File("outside")));
    }

    [Fact]
    public async Task A_put_leaves_no_temporary_file()
    {
        var target = new DirectoryBackupTarget(_directory.File("root"));
        await target.PutAsync("a/b", new byte[] { 1 }, Ct);
        await target.PutAsync("a/b", new byte[] { 2 }, Ct);
        Assert.Equal([Path.Combine(target.Root, "a", "b")], Directory.EnumerateFiles(target.Root, "*", SearchOption.AllDirectories));
    }

    public void Dispose() => _directory.Dispose();

    protected override Task<IBackupTarget> TargetAsync() =>
        Task.FromResult<IBackupTarget>(new DirectoryBackupTarget(_directory.File($"root-{Guid.NewGuid():N}")));
}
