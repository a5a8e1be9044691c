using SqlitePool.Client;

namespace SqlitePool.Tests.Cluster;

/// <summary>Bad paths are refused before any file is touched, on the client and in the grain.</summary>
[Collection(ClusterCollection.Name)]
public sealed class PathConfinementTests(ClusterFixture cluster)
{
    public static TheoryData<string> BadPaths =>
    [
        "../escape.db",
        "a/../../escape.db",
        "a/../b.db",
        "a/../a.db",
        "/tmp/absolute.db",
        "/etc/passwd",
        "./a.db",
        "a/./b.db",
        "a//b.db",
        "a/",
        "..",
        ".",
        "",
        "C:/windows.db",
        "c:escape.db",
        "a\\..\\escape.db",
        "\\\\server\\share.db",
        "nul\0byte.db",
        "line\nbreak.db",
        "tab\tname.db",
        "bell\u0007.db",
        "del\u007f.db",
        new string('a', 256) + ".db",
        string.Join('/', Enumerable.Repeat("abcdefghij", 100)) + ".db",
        "victim.db-wal",
        "victim.db-shm",
        "victim.db-journal",
        "dir/",
        "trailing/..",
        "   /x.db",
        "a/ /x.db",
        "x.db ",
        "x.db.",
        "dir. /x.db",
        "dir./x.db",
        "dir /x.db",
        " ",
        "...",
    ];

    [Theory]
    [MemberData(nameof(BadPaths), DisableDiscoveryEnumeration = true)]
    public async Task Bad_paths_are_refused_by_the_grain_and_create_no_file(string path)
    {
        var grain = cluster.Client.GetGrain<IDatabaseGrain>("local/" + path);

        var error = await Assert.ThrowsAsync<InvalidDatabasePathException>(() => grain.ExecuteAsync("CREATE TABLE x(a)", TestContext.Current.CancellationToken));
        Assert.Throws<InvalidDatabasePathException>(() => new DatabaseId("local", path));

        Assert.Equal(path, error.Path);
        Assert.Equal(["data"], Directory.GetFileSystemEntries(cluster.Sandbox).Select(Path.GetFileName));
        Assert.False(File.Exists("/tmp/absolute.db"));
    }

    [Fact]
    public void The_client_refuses_lone_surrogates_which_grain_keys_cannot_carry()
    {
        // Orleans encodes grain keys as UTF-8, turning a lone surrogate into U+FFFD, so two texts would name
        // one grain; the client library refuses them before anything is sent.
        Assert.Throws<InvalidDatabasePathException>(() => cluster.Client.GetDatabase("local", "lone\ud800surrogate.db"));
        Assert.Throws<InvalidDatabasePathException>(() => cluster.Client.GetDatabase("local", "lone\udc00.db"));
        Assert.Equal("ok\ud83d\ude00.db", new DatabaseId("local", "ok\ud83d\ude00.db").Path);
    }

    [Theory]
    [InlineData("no-node-separator")]
    [InlineData("/path-only.db")]
    [InlineData("bad node/x.db")]
    public async Task Keys_without_a_valid_node_are_refused(string key)
    {
        var grain = cluster.Client.GetGrain<IDatabaseGrain>(key);

        await Assert.ThrowsAsync<InvalidDatabasePathException>(() => grain.QueryAsync("SELECT 1", TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task A_symbolic_link_inside_the_data_root_is_not_followed()
    {
        var outside = Path.Combine(cluster.Sandbox, "..", "outside-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(outside);
        var link = Path.Combine(cluster.DataRoot, "link-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(cluster.DataRoot);
        Directory.CreateSymbolicLink(link, outside);
        try
        {
            var db = cluster.Database(Path.GetFileName(link) + "/x.db");

            await Assert.ThrowsAsync<InvalidDatabasePathException>(() => db.ExecuteAsync("CREATE TABLE x(a)"));

            Assert.Empty(Directory.GetFileSystemEntries(outside));
        }
        finally
        {
            Directory.Delete(link);
            Directory.Delete(outside, recursive: true);
        }
    }

    [Fact]
    public async Task Nested_paths_create_their_folders_under_the_data_root()
    {
        var db = cluster.Database($"nested/{Guid.NewGuid():N}/deep/file.db");

        await db.ExecuteAsync("CREATE TABLE x(a)");

        Assert.True(File.Exists(Path.Combine(cluster.DataRoot, db.Id.Path)));
    }
}
