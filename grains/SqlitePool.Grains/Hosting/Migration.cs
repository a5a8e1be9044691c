namespace SqlitePool.Hosting;

/// <summary>One schema step: its SQL (one or more statements) takes the database to <paramref name="Version"/>
/// (<c>PRAGMA user_version</c>, 1 and up).</summary>
public sealed record Migration(int Version, string Sql);

/// <summary>The migrations of the databases whose path matches <see cref="Pattern"/> (a glob as in <see cref="DatabaseOverride"/>).</summary>
public sealed record DatabaseMigrations(string Pattern, IReadOnlyList<Migration> Steps);
