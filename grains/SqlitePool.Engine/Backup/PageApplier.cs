namespace SqlitePool.Engine.Backup;

/// <summary>
/// Rebuilds a database file from committed transactions, as SQLite's checkpoint would: each frame's page image goes to
/// its page's place in the file, in log order (a later frame of a page wins), and the file then takes the size the
/// commit frame states. Applied in order to a copy of the database as it was before them, they give the database as it
/// was after the last one.
/// </summary>
/// <remarks>For files no connection has open: a restore's output before its name appears.</remarks>
internal static class PageApplier
{
    /// <summary>Writes <paramref name="transaction"/> into <paramref name="database"/>.</summary>
    /// <exception cref="InvalidDataException">A frame names page 0, or the page size differs from the file's.</exception>
    public static void Apply(FileStream database, WalTransaction transaction)
    {
        var pageSize = transaction.PageSize;
        for (var i = 0; i < transaction.FrameCount; i++)
        {
            var (page, image) = transaction.Frame(i);
            if (page == 0)
            {
                throw new InvalidDataException("A log frame names page 0; the log is not SQLite's.");
            }

            RandomAccess.Write(database.SafeFileHandle, image.Span, (long)(page - 1) * pageSize);
        }

        database.SetLength((long)transaction.DatabasePages * pageSize);
    }
}
