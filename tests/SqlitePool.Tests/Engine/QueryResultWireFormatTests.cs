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
    public void A_value_that_is_not_a_storage_class_is_refused()
    {
        var converter = new QueryResultConverter();

        Assert.Throws<InvalidOperationException>(() => converter.ConvertToSurrogate(new QueryResult(["v"], [DateTime.UtcNow])));
    }
}
