using System.Globalization;

namespace SqlitePool.Engine.Backup;

/// <summary>
/// The objects of one database's backup in a target, named so that a listing alone orders them:
/// <c>{database}/snapshots/{transaction}-{time}</c> (the whole database after that transaction) and
/// <c>{database}/segments/{first}-{last}-{time}-{level}</c> (the changes of transactions first to last, the last committed
/// at time; level 0 as shipped, each level up a merge of four of the level below); transaction ids are 20 digits, times
/// 15 (Unix ms, rounded up) and levels 2, zero-padded. Both are stored as
/// <see cref="BackupSegment"/>s: a snapshot is one record of every page, applied to an empty file.
/// </summary>
internal static class BackupChain
{
    public static string SnapshotKey(string database, long transaction, DateTimeOffset committedAt) =>
        $"{database}/snapshots/{transaction:D20}-{CeilingMilliseconds(committedAt):D15}";

    public static string SegmentKey(string database, BackupRecord first, BackupRecord last, int level = 0) =>
        $"{database}/segments/{first.FirstTransaction:D20}-{last.LastTransaction:D20}-{CeilingMilliseconds(last.CommittedAt):D15}-{level:D2}";

    // A key's time is rounded up: an object whose key's time is at or before a point committed at or before it.
    private static long CeilingMilliseconds(DateTimeOffset time) =>
        (time.UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks + TimeSpan.TicksPerMillisecond - 1) / TimeSpan.TicksPerMillisecond;

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
                snapshots.Add(new StoredObject(key, 1, transaction, DateTimeOffset.FromUnixTimeMilliseconds(time)));
            }
            else if (key.StartsWith($"{database}/segments/", StringComparison.Ordinal)
                && Numbers(key[(database.Length + 10)..]) is [var first, var last, var lastTime, ..] parts && parts.Length <= 4)
            {
                segments.Add(new StoredObject(key, first, last, DateTimeOffset.FromUnixTimeMilliseconds(lastTime), parts.Length == 4 ? (int)parts[3] : 0));
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
