namespace SqlitePool.Engine.Backup;

/// <summary>
/// What one database's backup holds in its target, as its shipper knows it: snapshots, and segments by level. Decides
/// what to merge and what to delete.
/// </summary>
/// <remarks>
/// <para>Each snapshot starts an epoch: the segments after it, up to the next (a segment never spans a snapshot).
/// Within an epoch, every <see cref="FanOut"/> consecutive segments of a level, counted from the epoch's start (or
/// from the end of the level above), merge into one of the level above. A restore to a point then reads the snapshot,
/// and at each level at most <c>FanOut - 1</c> objects (the digits of the point's place, in base four), and one partial
/// segment: with at most <see cref="MaxShippedPerEpoch"/> shipped segments an epoch, at most 20 objects.</para>
/// <para>Retention deletes what no point within it needs: the snapshots before the newest one older than the cutoff,
/// and the segments before that one; and in epochs that ended more than <see cref="FineRetention"/> ago, the segments
/// a coarser one covers (points inside them are then restored to the coarser one's end, at or before them).</para>
/// Not thread-safe: its shipper touches it in one turn at a time.
/// </remarks>
internal sealed class BackupCatalog
{
    /// <summary>Segments of a level merged into one of the next.</summary>
    public const int FanOut = 4;

    /// <summary>Shipped segments after which a snapshot starts a new epoch (four to the sixth).</summary>
    public const int MaxShippedPerEpoch = 4096;

    /// <summary>How long every shipped segment of a finished epoch is kept: points in it restore exactly.</summary>
    public static readonly TimeSpan FineRetention = TimeSpan.FromDays(1);

    private const int MaxLevel = 12;

    public List<StoredObject> Snapshots { get; } = [];

    public List<StoredObject> Segments { get; } = [];

    private static readonly Comparer<StoredObject> Order = Comparer<StoredObject>.Create(static (a, b) =>
        a.LastTransaction != b.LastTransaction ? a.LastTransaction.CompareTo(b.LastTransaction)
        : a.FirstTransaction != b.FirstTransaction ? a.FirstTransaction.CompareTo(b.FirstTransaction)
        : string.CompareOrdinal(a.Key, b.Key));

    private readonly HashSet<string> _keys = new(StringComparer.Ordinal);
    private bool _mergedAll; // every epoch was looked at for merges since the catalog was loaded

    public void Load(IEnumerable<StoredObject> snapshots, IEnumerable<StoredObject> segments)
    {
        Snapshots.Clear();
        Segments.Clear();
        _keys.Clear();
        Snapshots.AddRange(snapshots.Where(s => _keys.Add(s.Key)));
        Segments.AddRange(segments.Where(s => _keys.Add(s.Key)));
        Snapshots.Sort(Order);
        Segments.Sort(Order);
        _mergedAll = false;
    }

    public void Add(StoredObject stored)
    {
        var list = stored.Key.Contains("/snapshots/", StringComparison.Ordinal) ? Snapshots : Segments;
        if (!_keys.Add(stored.Key))
        {
            list.RemoveAll(o => o.Key == stored.Key);
        }

        var at = list.BinarySearch(stored, Order);
        list.Insert(at < 0 ? ~at : at, stored);
    }

    public void Remove(StoredObject stored)
    {
        _keys.Remove(stored.Key);
        Snapshots.Remove(stored);
        Segments.Remove(stored);
    }

    /// <summary>Segments shipped since the latest snapshot.</summary>
    public int ShippedSinceSnapshot => Snapshots.Count == 0 ? 0 : Segments.Count(s => s.Level == 0 && s.FirstTransaction > Snapshots[^1].LastTransaction);

    /// <summary>The next <see cref="NextMerge"/> looks at every epoch again (done once a minute: an epoch can fall
    /// behind the last two with merges still due).</summary>
    public void LookForMergesEverywhere() => _mergedAll = false;

    /// <summary>The next <see cref="FanOut"/> segments of one level to merge, or null when none are due.</summary>
    /// <remarks>After a load it looks at every epoch once; then only at the last two (earlier ones get no new segments).</remarks>
    public List<StoredObject>? NextMerge()
    {
        var from = _mergedAll ? Math.Max(0, Snapshots.Count - 2) : 0;
        _mergedAll = true;
        for (var e = from; e < Snapshots.Count; e++)
        {
            var (start, end) = Epoch(e);
            var epoch = EpochSegments(start, end);
            for (var level = 0; level < MaxLevel; level++)
            {
                var above = epoch.Where(s => s.Level == level + 1).ToList();
                var next = above.Count > 0 ? above.Max(s => s.LastTransaction) + 1 : start;
                var run = new List<StoredObject>();
                foreach (var segment in epoch.Where(s => s.Level == level && s.FirstTransaction >= next).OrderBy(s => s.FirstTransaction))
                {
                    if (segment.FirstTransaction != next)
                    {
                        break;
                    }

                    run.Add(segment);
                    next = segment.LastTransaction + 1;
                    if (run.Count == FanOut)
                    {
                        _mergedAll = from == 0 ? false : _mergedAll; // a full look continues after this merge
                        return run;
                    }
                }
            }
        }

        return null;
    }

    /// <summary>What retention deletes at <paramref name="now"/>.</summary>
    public List<StoredObject> Expired(DateTimeOffset now, TimeSpan retention)
    {
        var doomed = new List<StoredObject>();
        var cutoff = now - retention;
        if (Snapshots.LastOrDefault(s => s.LastCommittedAt <= cutoff) is { } oldestNeeded)
        {
            doomed.AddRange(Snapshots.Where(s => s.LastTransaction < oldestNeeded.LastTransaction));
            doomed.AddRange(Segments.Where(s => s.LastTransaction <= oldestNeeded.LastTransaction));
        }

        for (var e = 0; e + 1 < Snapshots.Count; e++)
        {
            if (Snapshots[e + 1].LastCommittedAt > now - FineRetention)
            {
                break;
            }

            var (start, end) = Epoch(e);
            var epoch = EpochSegments(start, end);
            doomed.AddRange(epoch.Where(s => epoch.Any(c => c.Level > s.Level && c.FirstTransaction <= s.FirstTransaction && s.LastTransaction <= c.LastTransaction)));
        }

        return [.. doomed.Distinct()];
    }

    // The segments within an epoch's transactions (the list is in order of their last transaction).
    private List<StoredObject> EpochSegments(long start, long end)
    {
        var probe = new StoredObject("", start, start, default);
        var at = Segments.BinarySearch(probe, Order);
        var epoch = new List<StoredObject>();
        for (var i = at < 0 ? ~at : at; i < Segments.Count && Segments[i].LastTransaction <= end; i++)
        {
            if (Segments[i].FirstTransaction >= start)
            {
                epoch.Add(Segments[i]);
            }
        }

        return epoch;
    }

    // The transactions of epoch e: after its snapshot, up to the next one's.
    private (long Start, long End) Epoch(int e) =>
        (Snapshots[e].LastTransaction + 1, e + 1 < Snapshots.Count ? Snapshots[e + 1].LastTransaction : long.MaxValue);
}
