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
/// Not thread-safe: its shipper guards it.
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

    public void Load(IEnumerable<StoredObject> snapshots, IEnumerable<StoredObject> segments)
    {
        Snapshots.Clear();
        Segments.Clear();
        foreach (var stored in snapshots.Concat(segments))
        {
            Add(stored);
        }
    }

    public void Add(StoredObject stored)
    {
        var list = stored.Key.Contains("/snapshots/", StringComparison.Ordinal) ? Snapshots : Segments;
        var at = list.FindIndex(o => o.Key == stored.Key);
        if (at >= 0)
        {
            list[at] = stored;
            return;
        }

        list.Add(stored);
        list.Sort(static (a, b) => a.LastTransaction != b.LastTransaction ? a.LastTransaction.CompareTo(b.LastTransaction) : a.FirstTransaction.CompareTo(b.FirstTransaction));
    }

    public void Remove(StoredObject stored)
    {
        Snapshots.Remove(stored);
        Segments.Remove(stored);
    }

    /// <summary>Segments shipped since the latest snapshot.</summary>
    public int ShippedSinceSnapshot => Snapshots.Count == 0 ? 0 : Segments.Count(s => s.Level == 0 && s.FirstTransaction > Snapshots[^1].LastTransaction);

    /// <summary>The next <see cref="FanOut"/> segments of one level to merge, or null when none are due.</summary>
    public List<StoredObject>? NextMerge()
    {
        for (var e = 0; e < Snapshots.Count; e++)
        {
            var (start, end) = Epoch(e);
            for (var level = 0; level < MaxLevel; level++)
            {
                var above = Segments.Where(s => s.Level == level + 1 && s.FirstTransaction >= start && s.LastTransaction <= end).ToList();
                var next = above.Count > 0 ? above.Max(s => s.LastTransaction) + 1 : start;
                var run = new List<StoredObject>();
                foreach (var segment in Segments.Where(s => s.Level == level && s.FirstTransaction >= next && s.LastTransaction <= end).OrderBy(s => s.FirstTransaction))
                {
                    if (segment.FirstTransaction != next)
                    {
                        break;
                    }

                    run.Add(segment);
                    next = segment.LastTransaction + 1;
                    if (run.Count == FanOut)
                    {
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
            var epoch = Segments.Where(s => s.FirstTransaction >= start && s.LastTransaction <= end).ToList();
            doomed.AddRange(epoch.Where(s => epoch.Any(c => c.Level > s.Level && c.FirstTransaction <= s.FirstTransaction && s.LastTransaction <= c.LastTransaction)));
        }

        return [.. doomed.Distinct()];
    }

    // The transactions of epoch e: after its snapshot, up to the next one's.
    private (long Start, long End) Epoch(int e) =>
        (Snapshots[e].LastTransaction + 1, e + 1 < Snapshots.Count ? Snapshots[e + 1].LastTransaction : long.MaxValue);
}
