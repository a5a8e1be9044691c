using System.Diagnostics;
using System.Runtime.InteropServices;

namespace SqlitePool.Engine;

/// <summary>
/// Gives the memory of closed connections back to the operating system. SQLite frees what a closed connection held
/// (its page cache, schema and lookaside: a few hundred KiB each, which adds up over many small databases), but glibc's
/// allocator keeps freed memory in its arenas: a silo whose idle readers and databases had closed kept its peak resident
/// size. Once at least <see cref="MinClosed"/> connections have closed and then none for <see cref="Quiet"/> (or
/// <see cref="MaxDelay"/> after the first of them, while closes never stop; and at most once in <see cref="MinInterval"/>),
/// this calls glibc's <c>malloc_trim</c>, on a
/// thread of its own: with gigabytes freed it takes a few hundred milliseconds, which no thread-pool thread (and so no
/// grain turn) should wait out. Where there is no glibc it does nothing.
/// </summary>
internal static partial class FreedMemory
{
    private const int MinClosed = 16;
    private static readonly TimeSpan Quiet = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan MaxDelay = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan MinInterval = TimeSpan.FromSeconds(10);
    private static readonly Lock Gate = new();
    private static readonly Timer Timer = CreateTimer();
    private static int _closed;
    private static long _firstClosedAt;
    private static bool _pending;
    private static long _lastTrim;
    private static long _trims;
    private static volatile bool _unavailable = !OperatingSystem.IsLinux();

    /// <summary>How many times memory was given back (for tests).</summary>
    public static long Trims => Interlocked.Read(ref _trims);

    /// <summary>Called once a connection has closed.</summary>
    public static void ConnectionClosed()
    {
        if (_unavailable)
        {
            return;
        }

        lock (Gate)
        {
            var now = Stopwatch.GetTimestamp();
            _firstClosedAt = _closed++ == 0 ? now : _firstClosedAt;
            // Each close puts the trim off until the closes pause; once the first has waited long enough, a trim
            // already due is left to run.
            if (_closed >= MinClosed && (!_pending || Stopwatch.GetElapsedTime(_firstClosedAt, now) < MaxDelay - Quiet))
            {
                _pending = true;
                var sinceLast = _lastTrim == 0 ? TimeSpan.MaxValue : Stopwatch.GetElapsedTime(_lastTrim, now);
                Timer.Change(sinceLast >= MinInterval - Quiet ? Quiet : MinInterval - sinceLast, Timeout.InfiniteTimeSpan);
            }
        }
    }

    // Made without the execution context of whoever closed the first connection (a request's context, a trace),
    // which the timer would otherwise keep for the life of the process.
    private static Timer CreateTimer()
    {
        using (ExecutionContext.SuppressFlow())
        {
            return new Timer(static _ => StartTrim(), null, Timeout.Infinite, Timeout.Infinite);
        }
    }

    private static void StartTrim()
    {
        try
        {
            new Thread(Trim) { IsBackground = true, Name = "malloc_trim" }.Start();
        }
        catch (OutOfMemoryException)
        {
            // No thread to be had (out of threads or memory maps): the next closes try again.
            lock (Gate)
            {
                _pending = false;
            }
        }
    }

    private static void Trim()
    {
        lock (Gate)
        {
            // A close that re-armed the timer just as it fired leaves a second, needless call: too few closes since.
            var due = _closed >= MinClosed;
            _pending = false;
            if (!due)
            {
                return;
            }

            _closed = 0;
            _lastTrim = Stopwatch.GetTimestamp();
        }

        try
        {
            MallocTrim(0);
            Interlocked.Increment(ref _trims);
        }
        catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException)
        {
            // Not glibc (musl has no malloc_trim): its allocator is its own business.
            _unavailable = true;
        }
    }

    [LibraryImport("libc", EntryPoint = "malloc_trim")]
    private static partial int MallocTrim(nuint pad);
}
