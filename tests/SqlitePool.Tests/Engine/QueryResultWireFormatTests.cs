using Microsoft.Extensions.DependencyInjection;
using Orleans.Serialization;

namespace SqlitePool.Tests.Engine;

/// <summary>A result packed for the wire comes back value for value, storage class for storage class.</summary>
public sealed class QueryResultWireFormatTests
{
    [Fact]
    public void Every_storage_class_and_edge_value_round_trips()
    {
        object?[] values =
        [
            null, 0L, -1L, 1L, long.MinValue, long.MaxValue, 63L, 64L, -64L, -65L,
            0.0, -0.0, double.NaN, double.PositiveInfinity, double.Epsilon, 1.5,
            "", "a\0b", "héllo 😀", new string('x', 70_000),
            Array.Empty<byte>(), new byte[] { 0, 1, 255 },
        ];
        var result = new QueryResult(["v"], values);
        var converter = new QueryResultConverter();

        var back = converter.ConvertFromSurrogate(converter.ConvertToSurrogate(result));

        Assert.Equal(["v"], back.Columns);
        Assert.Equal(values.Length, back.Values.Length);
        for (var i = 0; i < values.Length; i++)
        {
            Assert.Equal(values[i]?.GetType(), back.Values[i]?.GetType());
            Assert.Equal(values[i], back.Values[i]);
        }
    }

    [Fact]
    public void Results_inside_outcomes_and_write_results_round_trip_through_Orleans_serializer()
    {
        using var services = new ServiceCollection().AddSerializer().BuildServiceProvider();
        var serializer = services.GetRequiredService<Serializer>();
        var rows = new QueryResult(["id", "name"], [1L, "a", 2L, null]);
        var outcomes = new[] { new QueryOutcome(rows, null), new QueryOutcome(QueryResult.Empty, null), new QueryOutcome(null, new WriteOnReadPathException("DELETE FROM t")) };
        var executed = new ExecuteOutcome(new ExecuteResult(3, 7, rows), null);

        var (backOutcomes, backExecuted) = serializer.Deserialize<(QueryOutcome[], ExecuteOutcome)>(serializer.SerializeToArray((outcomes, executed)));

        Assert.Equal(["id", "name"], backOutcomes[0].Result!.Columns);
        Assert.Equal<object?>([1L, "a", 2L, null], backOutcomes[0].Result!.Values);
        Assert.Equal(0, backOutcomes[1].Result!.RowCount);
        Assert.IsType<WriteOnReadPathException>(backOutcomes[2].Error);
        Assert.Throws<WriteOnReadPathException>(() => backOutcomes[2].GetResult());
        var result = backExecuted.GetResult();
        Assert.Equal((3L, 7L, 2), (result.Changes, result.LastInsertRowId, result.Rows!.RowCount));
    }

    [Fact]
    public void A_value_that_is_not_a_storage_class_is_refused()
    {
        var converter = new QueryResultConverter();

        Assert.Throws<InvalidOperationException>(() => converter.ConvertToSurrogate(new QueryResult(["v"], [DateTime.UtcNow])));
    }
}
