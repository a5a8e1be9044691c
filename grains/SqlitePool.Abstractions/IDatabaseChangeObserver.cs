using Orleans.Concurrency;

namespace SqlitePool;

/// <summary>Which tables of a database committed writes changed, gathered over one notification interval.</summary>
/// <param name="Database">The database's grain key.</param>
/// <param name="Tables">The tables, sorted; a rolled-back write never appears here.</param>
/// <param name="At">When the database sent it.</param>
[GenerateSerializer, Immutable, Alias("SqlitePool.TablesChanged")]
public sealed record TablesChanged(
    [property: Id(0)] string Database,
    [property: Id(1)] string[] Tables,
    [property: Id(2)] DateTimeOffset At);

/// <summary>Learns which tables changed after each commit. A client creates one with <c>CreateObjectReference</c>;
/// a grain implements it and passes <c>this.AsReference&lt;IDatabaseChangeObserver&gt;()</c>.</summary>
[Alias("SqlitePool.IDatabaseChangeObserver")]
public interface IDatabaseChangeObserver : IGrainObserver
{
    /// <summary>Called after commits, at most once per notification interval.</summary>
    [OneWay]
    [Alias("OnTablesChanged")]
    Task OnTablesChangedAsync(TablesChanged change);
}
