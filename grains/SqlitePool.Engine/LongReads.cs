namespace SqlitePool.Engine;

/// <summary>
/// The texts of a pool's reads that passed <see cref="Hosting.DatabaseOptions.CallerThreadReadLimit"/> on a caller's
/// thread, with when: for <see cref="Memory"/> such a read goes straight to the scheduler, so a long read pays the limit
/// about once a minute rather than on every call, and may try its caller's thread again later (it may have been slow
/// only once: a cold cache, a busy machine). Forgotten all at once when <see cref="Kept"/> are known.
/// </summary>
internal sealed class LongReads(TimeProvider time)
{
    public const int Kept = 256;

    /// <summary>How long a read noted here goes straight to the scheduler.</summary>
    public static readonly TimeSpan Memory = TimeSpan.FromMinutes(1);

    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, long> _noted = new(StringComparer.Ordinal);
    private long _count;

    /// <summary>Reads noted since the pool opened.</summary>
    public long Count => Interlocked.Read(ref _count);

    /// <summary>True when <paramref name="sql"/> passed the limit less than <see cref="Memory"/> ago. Lock-free.</summary>
    public bool Knows(string? sql) => sql is not null && _noted.TryGetValue(sql, out var at) && time.GetElapsedTime(at) < Memory;

    public void Note(string sql)
    {
        Interlocked.Increment(ref _count);
        if (_noted.Count >= Kept)
        {
            _noted.Clear();
        }

        _noted[sql] = time.GetTimestamp();
    }
}
