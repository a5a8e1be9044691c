namespace SqlitePool;

/// <summary>The silo a piece of code runs on, as the client library needs it to address that silo's own databases
/// without naming the node (<c>local.Get("orders.db")</c> in the client library).</summary>
public interface ILocalNode
{
    /// <summary>This silo's node name.</summary>
    string Node { get; }

    /// <summary>The grain factory of this silo.</summary>
    IGrainFactory GrainFactory { get; }
}
