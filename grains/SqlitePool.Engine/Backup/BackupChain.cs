using System.Globalization;

namespace SqlitePool.Engine.Backup;

/// <summary>
/// The objects of one database's backup in a target, named so that a listing alone orders them:
/// <c>{database}/snapshots/{transaction}-{time}</c> (the whole database after that transaction) and
/// <c>{database}/segments/{first}-{last}-{time}-{level}</c> (the changes of transactions first to last, the last committed
/// at time; level 0 as shipped, each level up a merge of four of the level below); transaction ids are 20 digits, times
/// 19 (UTC ticks of 100 ns: exactly the commit's) and levels 2, zero-padded. Both are stored as
/// <see cref="BackupSegment"/>s: a snapshot is one record of every page, applied to an empty file.
/// </summary>
internal static class BackupChain
{
    public static string SnapshotKey(string database, long transaction, DateTimeOffset committedAt) =>
        $"{database}/snapshots/{transaction:D20}-{committedAt.UtcTicks:D19}";

    public static string SegmentKey(string database, BackupRecord first, BackupRecord last, int level = 0) =>
        $"{database}/segments/{first.FirstTransaction:D20}-{last.LastTransaction:D20}-{last.CommittedAt.UtcTicks:D19}-{level:D2}";

    /// <summary>A gap marker: the chain lost the commits from <paramref name="firstLost"/> on, the first of them made at
    /// <paramref name="at"/>, until a snapshot restarted it (an empty object).</summary>
    public static string GapKey(string database, long firstLost, DateTimeOffset at) =>
        $"{database}/gaps/{firstLost:D20}-{at.UtcTicks:D19}";

    /// <summary>The gap markers of <paramref name="database"/> in <paramref name="keys"/>: first lost transaction, and when it was made.</summary>
    public static Dictionary<long, DateTimeOffset> ParseGaps(string database, IEnumerable<string> keys)
    {
        var gaps = new Dictionary<long, DateTimeOffset>();
        foreach (var key in keys)
        {
            if (key.StartsWith($"{database}/gaps/", StringComparison.Ordinal) && Numbers(key[(database.Length + 6)..]) is [var first, var ticks])
            {
                gaps[first] = new DateTimeOffset(ticks, TimeSpan.Zero);
            }
        }

        return gaps;
    }

    /// <summary>The highest transaction any object of <paramref name="database"/> in <paramref name="keys"/> names, gap
    /// markers included (0: none).</summary>
    public static long HighestTransaction(string database, IEnumerable<string> keys)
    {
        var list = keys as IReadOnlyCollection<string> ?? [.. keys];
        var (snapshots, segments) = Parse(database, list);
        return snapshots.Concat(segments).Select(o => o.LastTransaction).Concat(ParseGaps(database, list).Keys).DefaultIfEmpty(0).Max();
    }

    /// <summary>The snapshots and segments of <paramref name="database"/> found in <paramref name="keys"/>, each in
    /// transaction order; keys of other shapes are ignored.</summary>
    public static (List<StoredObject> Snapshots, List<StoredObject> Segments) Parse(string database, IEnumerable<string> keys)
    {
        var (snapshots, segments) = (new List<StoredObject>(), new List<StoredObject>());
        foreach (var key in keys)
        {
            if (key.StartsWith($"{database}/snapshots/", StringComparison.Ordinal)
                && Numbers(key[(database.Length + 11)..]) is [var transaction, var time])
            {
                snapshots.Add(new StoredObject(key, 1, transaction, new DateTimeOffset(time, TimeSpan.Zero)));
            }
            else if (key.StartsWith($"{database}/segments/", StringComparison.Ordinal)
                && Numbers(key[(database.Length + 10)..]) is [var first, var last, var lastTime, ..] parts && parts.Length <= 4)
            {
                segments.Add(new StoredObject(key, first, last, new DateTimeOffset(lastTime, TimeSpan.Zero), parts.Length == 4 ? (int)parts[3] : 0));
            }
        }

        snapshots.Sort((a, b) => a.LastTransaction.CompareTo(b.LastTransaction));
        segments.Sort((a, b) => a.FirstTransaction != b.FirstTransaction ? a.FirstTransaction.CompareTo(b.FirstTransaction) : a.LastTransaction.CompareTo(b.LastTransaction));
        return (snapshots, segments);
    }

    private static long[]? Numbers(string name)
    {
        var parts = name.Split('-');
        var numbers = new long[parts.Length];
        for (var i = 0; i < parts.Length; i++)
        {
            if (!long.TryParse(parts[i], NumberStyles.None, CultureInfo.InvariantCulture, out numbers[i]))
            {
                return null;
            }
        }

        return numbers;
    }
}

/// <summary>A stored snapshot or segment: its key, the transactions it covers, when the last committed, and (for a
/// segment) its level of compaction.</summary>
internal sealed record StoredObject(string Key, long FirstTransaction, long LastTransaction, DateTimeOffset LastCommittedAt, int Level = 0);
