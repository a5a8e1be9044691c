using SqlitePool.Tests.Cluster;
using SqlitePool.Tests.Support;

namespace SqlitePool.Tests.Conformance;

/// <summary>SQLite's sqllogictest scripts, run through the client library against a real silo.</summary>
[Collection(ClusterCollection.Name)]
public sealed class ConformanceTests(ClusterFixture cluster)
{
    public static TheoryData<string> Scripts =>
    [
        "select1.test",
        "evidence/in1.test",
        "evidence/in2.test",
        "evidence/slt_lang_aggfunc.test",
        "evidence/slt_lang_createtrigger.test",
        "evidence/slt_lang_createview.test",
        "evidence/slt_lang_dropindex.test",
        "evidence/slt_lang_droptable.test",
        "evidence/slt_lang_droptrigger.test",
        "evidence/slt_lang_dropview.test",
        "evidence/slt_lang_reindex.test",
        "evidence/slt_lang_replace.test",
        "evidence/slt_lang_update.test",
    ];

    [Theory]
    [MemberData(nameof(Scripts))]
    public async Task Script_passes_every_record_that_applies_to_sqlite(string script)
    {
        var folder = CorpusFolder();
        if (folder is null)
        {
            Assert.Skip("../shared/conformance/sqllogictest was not found beside the project; the conformance corpus is not copied into it.");
        }

        var runner = new SqlLogicTestRunner(cluster.Database($"conformance/{Path.GetFileNameWithoutExtension(script)}-{Guid.NewGuid():N}.db"));
        await runner.RunAsync(Path.Combine(folder, script));

        TestContext.Current.TestOutputHelper?.WriteLine($"{script}: {runner.Passed} records passed");
        Assert.Empty(runner.Failures);
        Assert.True(runner.Passed > 0, "no record ran");
    }

    private static string? CorpusFolder()
    {
        var corpus = Path.GetFullPath(Path.Combine(Repository.Root, "..", "shared", "conformance", "sqllogictest"));
        return Directory.Exists(corpus) ? corpus : null;
    }
}
