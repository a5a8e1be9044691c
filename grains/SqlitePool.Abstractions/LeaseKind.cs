namespace SqlitePool;

/// <summary>What a lease holds.</summary>
public enum LeaseKind
{
    /// <summary>A reader connection; its statements see one snapshot until it is released.</summary>
    Reader,

    /// <summary>The writer connection; other writers wait until it is released.</summary>
    Writer,

    /// <summary>The writer, with every other lease ended first and new ones held back.</summary>
    Exclusive,
}
