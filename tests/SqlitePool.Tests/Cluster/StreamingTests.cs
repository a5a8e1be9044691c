using SqlitePool.Client;
using SqlitePool.Tests.Support;

namespace SqlitePool.Tests.Cluster;

/// <summary>Large results stream in batches from one snapshot, holding a reader only while enumerated.</summary>
[Collection(ClusterCollection.Name)]
public sealed class StreamingTests(ClusterFixture cluster)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private async Task<SqliteDatabase> RowsAsync(int count)
    {
        var db = cluster.NewDatabase();
        await db.ExecuteBatchAsync(
            new Statement("CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)"),
            new Statement("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?) INSERT INTO t SELECT i, 'row ' || i FROM n", count));
        return db;
    }

    [Fact]
    public async Task Rows_arrive_in_batches_in_order_from_one_snapshot()
    {
        var db = await RowsAsync(5000);
        var batches = new List<QueryResult>();

        // 500 batches: Orleans fetches at most 100 of them per call, so the stream is still open (its reader busy) when
        // the first arrives, however fast the silo reads.
        await foreach (var batch in db.StreamAsync(new Statement("SELECT id, v FROM t ORDER BY id"), batchRows: 10, Ct))
        {
            if (batches.Count == 0)
            {
                // Committed after the stream began: not in its snapshot.
                await db.ExecuteAsync("INSERT INTO t VALUES (9999, 'late')");
                Assert.Equal(1, (await db.GetStatisticsAsync()).ReadersBusy);
            }

            batches.Add(batch);
        }

        Assert.Equal(Enumerable.Repeat(10, 500), batches.Select(b => b.RowCount));
        Assert.Equal(["id", "v"], batches[0].Columns);
        Assert.Equal(Enumerable.Range(1, 5000).Select(i => (long)i), batches.SelectMany(b => Enumerable.Range(0, b.RowCount).Select(r => (long)b[r, 0]!)));
        Assert.Equal(0, (await db.GetStatisticsAsync()).ReadersBusy);
    }

    [Fact]
    public async Task A_stream_whose_last_batch_is_short_ends_instead_of_starting_over()
    {
        var db = await RowsAsync(2500);
        var rows = 0;

        await foreach (var batch in db.StreamAsync(new Statement("SELECT id FROM t"), batchRows: 1000, Ct))
        {
            rows += batch.RowCount;
            Assert.True(rows <= 2500, "the statement restarted");
        }

        Assert.Equal(2500, rows);
    }

    [Fact]
    public async Task Rows_map_to_records_and_an_early_stop_gives_the_reader_back()
    {
        var db = await RowsAsync(3000);
        var seen = new List<Row>();

        await foreach (var row in db.StreamAsync<Row>(new Statement("SELECT id, v FROM t ORDER BY id"), batchRows: 100, Ct))
        {
            seen.Add(row);
            if (seen.Count == 250)
            {
                break;
            }
        }

        Assert.Equal(new Row(250, "row 250"), seen[^1]);
        await ClusterWaits.UntilAsync(async () => (await db.GetStatisticsAsync()).ReadersBusy == 0);
        Assert.Equal(3000L, await db.QuerySingleAsync<long>("SELECT count(*) FROM t"));
    }

    [Fact]
    public async Task A_write_or_two_statements_are_refused_and_the_database_works_after()
    {
        var db = await RowsAsync(10);

        await Assert.ThrowsAsync<WriteOnReadPathException>(async () =>
        {
            await foreach (var _ in db.StreamAsync(new Statement("DELETE FROM t RETURNING id"), cancellationToken: Ct))
            {
            }
        });
        await Assert.ThrowsAsync<SqlStatementException>(async () =>
        {
            await foreach (var _ in db.StreamAsync(new Statement("SELECT 1; SELECT 2"), cancellationToken: Ct))
            {
            }
        });

        Assert.Equal(10L, await db.QuerySingleAsync<long>("SELECT count(*) FROM t"));
        Assert.Equal(0, (await db.GetStatisticsAsync()).ReadersBusy);
    }

    [Fact]
    public async Task The_next_batch_is_read_while_the_caller_holds_this_one_and_a_later_error_comes_after_the_rows_before_it()
    {
        var db = await RowsAsync(1000);
        var readsBefore = (await db.GetStatisticsAsync()).Reads;

        // Row 950 overflows: nine batches arrive whole, the tenth fails.
        var rows = 0;
        var error = await Assert.ThrowsAsync<SqlStatementException>(async () =>
        {
            await foreach (var batch in db.StreamAsync(new Statement("SELECT id, CASE WHEN id = 950 THEN abs(-9223372036854775807 - 1) ELSE id END FROM t ORDER BY id"), batchRows: 100, Ct))
            {
                if (rows == 0)
                {
                    // Holding the first batch, the second is read already (a read per batch; without the read
                    // ahead the silo would wait for the caller to ask).
                    await ClusterWaits.UntilAsync(async () => (await db.GetStatisticsAsync()).Reads - readsBefore >= 2);
                }

                rows += batch.RowCount;
            }
        });

        Assert.Equal(900, rows);
        Assert.Contains("overflow", error.Message, StringComparison.OrdinalIgnoreCase);
        await ClusterWaits.UntilAsync(async () => (await db.GetStatisticsAsync()).ReadersBusy == 0);
        Assert.Equal(1000L, await db.QuerySingleAsync<long>("SELECT count(*) FROM t"));
    }

    private sealed record Row(long Id, string V);
}
