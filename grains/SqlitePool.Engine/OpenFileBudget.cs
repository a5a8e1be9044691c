using System.Runtime.InteropServices;

namespace SqlitePool.Engine;

/// <summary>
/// The file descriptors the process's open databases may hold. Every open database holds its file, log and
/// shared-memory index on the writer plus its lock file (4), and each reader its own file and log (2 more); thousands of
/// databases reach the process's limit (<c>ulimit -n</c>) long before memory or threads. Past the budget, readers stop
/// growing (a database's first reader may go past it to <see cref="Ceiling"/>), and a database about to open first
/// closes databases nobody is using, the least recently used first (a clock sweep), as an idle timeout would; they open
/// again on their next call.
/// </summary>
/// <remarks>Counts are kept by the pools (<see cref="Add"/>) and take no lock. A database whose readers could not grow
/// for lack of room asks to hear when files are freed (<see cref="WakeOnRoom"/>): its own connections coming back would
/// not tell it that another database closed.</remarks>
public sealed partial class OpenFileBudget
{
    /// <summary>Files an open database is counted for: its writer's database, log and shared-memory index, and its
    /// lock file. A database opens no reader until reads overlap (alone, a read runs on the free writer).</summary>
    public const int PerDatabase = 4;

    /// <summary>Files each reader adds: its own descriptors of the database and its log.</summary>
    public const int PerReader = 2;

    private readonly Lock _roomLock = new();
    private List<ConnectionArbiter> _roomWaiters = [];
    private long _used;

    /// <summary>A budget of <paramref name="limit"/> files.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The limit is below one database.</exception>
    public OpenFileBudget(long limit)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(limit, PerDatabase);
        Limit = limit;
    }

    /// <summary>Three quarters of the process's limit on open files (the rest is left to sockets, logs and the
    /// runtime), or unlimited where the platform has none to read.</summary>
    public static OpenFileBudget FromProcessLimit() => new(ProcessLimit() is { } limit ? Math.Max(PerDatabase, limit * 3 / 4) : long.MaxValue);

    /// <summary>The most files the databases may hold.</summary>
    public long Limit { get; }

    /// <summary>How far a database's first reader may take the count past <see cref="Limit"/>: an eighth more (one
    /// reader's files at least). Opens then close databases until the count is back under the limit; past the ceiling,
    /// a database with no reader runs its reads on its writer, one at a time, each briefly: one too long to run there
    /// opens a first reader past the ceiling, as a reader lease does.</summary>
    public long Ceiling => Limit > long.MaxValue / 2 ? long.MaxValue : Limit + Math.Max(PerReader, Limit / 8);

    /// <summary>The files the open databases hold now.</summary>
    public long Used => Interlocked.Read(ref _used);

    /// <summary>True when <paramref name="files"/> more fit.</summary>
    public bool HasRoom(int files) => Used + files <= Limit;

    /// <summary>Counts <paramref name="files"/> as held if they fit with <paramref name="headroom"/> more to spare;
    /// atomic, so concurrent openers never both take the last room.</summary>
    public bool TryReserve(long files, long headroom = 0) => TryReserveUpTo(files + headroom, files, Limit);

    /// <summary>Counts <paramref name="files"/> as held if they fit under <see cref="Ceiling"/>: for a database's
    /// first reader.</summary>
    public bool TryOverdraw(long files) => TryReserveUpTo(files, files, Ceiling);

    private bool TryReserveUpTo(long needed, long files, long bound)
    {
        while (true)
        {
            var used = Interlocked.Read(ref _used);
            if (used + needed > bound)
            {
                return false;
            }

            if (Interlocked.CompareExchange(ref _used, used + files, used) == used)
            {
                return true;
            }
        }
    }

    /// <summary>Counts files opened (positive) or closed (negative); files closed wake the databases waiting for room.</summary>
    public void Add(long files)
    {
        Interlocked.Add(ref _used, files);
        if (files < 0)
        {
            WakeRoomWaiters();
        }
    }

    /// <summary>Under <paramref name="arbiter"/>'s lock, once a reader did not fit: its arbiter dispatches again the next
    /// time files are freed (<see cref="ConnectionArbiter.RoomFreed"/>). The caller then tries once more, so room freed
    /// between its try and this is not missed.</summary>
    internal void WakeOnRoom(ConnectionArbiter arbiter)
    {
        lock (_roomLock)
        {
            _roomWaiters.Add(arbiter);
        }
    }

    private void WakeRoomWaiters()
    {
        List<ConnectionArbiter> waiting;
        lock (_roomLock)
        {
            if (_roomWaiters.Count == 0)
            {
                return;
            }

            (waiting, _roomWaiters) = (_roomWaiters, []);
        }

        // Files are freed under the freeing pool's lock, and a dispatch takes the waiting pool's: never one inside the
        // other. Each that still finds no room asks again.
        ThreadPool.UnsafeQueueUserWorkItem(static w => { foreach (var arbiter in w) arbiter.RoomFreed(); }, waiting, preferLocal: false);
    }

    /// <summary>The soft limit on open files (<c>RLIMIT_NOFILE</c>) on Linux and macOS, or null.</summary>
    public static long? ProcessLimit()
    {
        var resource = OperatingSystem.IsLinux() ? 7 : OperatingSystem.IsMacOS() ? 8 : -1;
        if (resource < 0)
        {
            return null;
        }

        try
        {
            return GetResourceLimit(resource, out var limit) == 0 && limit.Current is > 0 and < long.MaxValue ? limit.Current : null;
        }
        catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException)
        {
            return null;
        }
    }

    [LibraryImport("libc", EntryPoint = "getrlimit")]
    private static partial int GetResourceLimit(int resource, out ResourceLimit limit);

    [StructLayout(LayoutKind.Sequential)]
    private struct ResourceLimit
    {
        public long Current;
        public long Maximum;
    }
}
