using SqlitePool.Diagnostics;

namespace SqlitePool.Engine.Backup;

internal sealed partial class BackupShipper
{
    private static readonly TimeSpan RetentionLookEvery = TimeSpan.FromMinutes(1);
    private DateTimeOffset _retentionLookedAt = DateTimeOffset.MinValue;
    private Task<SnapshotImage?>? _periodic; // a periodic snapshot being taken, or taken and not stored (in a turn: _turn)
    private TimeSpan _periodicBackoff; // after a periodic snapshot failed: how long until the next try
    private DateTimeOffset _periodicRetryAt = DateTimeOffset.MinValue;

    /// <summary>Runs what maintenance is due now (a snapshot, a merge, retention) at once; for tests and operators.
    /// Nothing while the chain is not known or must restart first (the uploader does that). A snapshot that waits for
    /// the writer is waited for outside the uploader's turn, so shipping goes on meanwhile.</summary>
    public async Task MaintainNowAsync(CancellationToken cancellationToken = default)
    {
        var (first, waited) = (true, false);
        while (true)
        {
            Task<SnapshotImage?>? taking;
            await _turn.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                if (_closing || Interlocked.Read(ref _stored) < 0 || _paused || _owedSnapshot is not null)
                {
                    return;
                }

                if (first)
                {
                    _retentionLookedAt = DateTimeOffset.MinValue;
                    first = false;
                }

                if (await MaintainAsync(cancellationToken).ConfigureAwait(false))
                {
                    continue;
                }

                taking = _periodic;
            }
            finally
            {
                _turn.Release();
            }

            if (taking is null || (waited && !taking.IsCompleted))
            {
                // At most one snapshot is waited for (under steady writes another may always be due).
                return;
            }

            waited = true;
            await ((Task)taking).WaitAsync(cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing); // stored next round
            cancellationToken.ThrowIfCancellationRequested();
        }
    }

    // One piece of maintenance, if any is due: a snapshot (every SnapshotInterval, or after MaxShippedPerEpoch segments,
    // when something committed since the last), a merge of segments, or (once a minute) retention.
    private async Task<bool> MaintainAsync(CancellationToken token)
    {
        if (_closing)
        {
            return false;
        }

        var now = _time.GetUtcNow();
        if (_periodic is { IsCompleted: true } taken)
        {
            // Taken beside the shipping (it waited for the writer, which a lease may hold), stored in turn now (and
            // kept until it is). Its failure is the snapshot's, not the target's: logged once a streak, tried again
            // after a backoff.
            if (taken.IsCompletedSuccessfully && taken.Result is { } image)
            {
                await SnapshotAsync(restart: false, token, image).ConfigureAwait(false);
                _periodic = null;
                _periodicBackoff = TimeSpan.Zero;
                return true;
            }

            _periodic = null;
            if (taken.Exception?.InnerException is DatabaseClosedException)
            {
                _closing = true;
                return false;
            }

            if (taken.Exception?.InnerException is { } failure && _periodicBackoff == TimeSpan.Zero)
            {
                BackupLog.SnapshotFailed(Logger, failure, Name);
            }

            var longest = _options.SnapshotInterval < RetentionLookEvery ? RetentionLookEvery : _options.SnapshotInterval;
            _periodicBackoff = _periodicBackoff == TimeSpan.Zero ? FirstBackoff : _periodicBackoff * 2 > longest ? longest : _periodicBackoff * 2;
            _periodicRetryAt = now + _periodicBackoff;
        }

        long captured;
        lock (_gate)
        {
            captured = _captured;
        }

        var latest = _catalog.Snapshots.LastOrDefault();
        var shipped = _catalog.ShippedSinceSnapshot;

        // None across a snapshot captured but not stored yet (a merge chosen before one starts lies below its capture).
        var merge = _periodic is null ? _catalog.NextMerge() : null;
        if (_periodic is null && now >= _periodicRetryAt && (latest is null || (captured > latest.LastTransaction
            && (now - latest.LastCommittedAt >= _options.SnapshotInterval || shipped >= BackupCatalog.MaxShippedPerEpoch))))
        {
            _periodic = _takeSnapshot(restart: false, _stop.Token);
            _ = _periodic.ContinueWith(static (taken, self) =>
            {
                _ = taken.Exception; // observed here; handled when the loop picks it up
                ((BackupShipper)self!).Wake();
            }, this, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }

        if (merge is not null)
        {
            await MergeAsync(merge, token).ConfigureAwait(false);
            return true;
        }

        if (now - _retentionLookedAt >= RetentionLookEvery)
        {
            _retentionLookedAt = now;
            _catalog.LookForMergesEverywhere();
            return await ApplyRetentionAsync(now, token).ConfigureAwait(false);
        }

        return false;
    }

    private async Task MergeAsync(List<StoredObject> segments, CancellationToken token)
    {
        var records = new List<BackupRecord>();
        var pageSize = 0;
        foreach (var segment in segments)
        {
            if (await _target.GetAsync(segment.Key, token).ConfigureAwait(false) is not { } bytes)
            {
                // Deleted by another shipper of the name (one closing as this one opened): learn the target again.
                var (snapshots, stored) = BackupChain.Parse(Name, await _target.ListAsync(Name + "/", token).ConfigureAwait(false));
                _catalog.Load(snapshots, stored);
                return;
            }

            var (size, read) = BackupSegment.Decode(bytes);
            pageSize = size;
            records.AddRange(read);
        }

        var merged = BackupRecord.Compact(records);
        var encoded = BackupSegment.Encode(pageSize, [merged]);
        var key = BackupChain.SegmentKey(Name, merged, merged, segments[0].Level + 1);
        await _target.PutAsync(key, encoded, token).ConfigureAwait(false);
        _catalog.Add(new StoredObject(key, merged.FirstTransaction, merged.LastTransaction, merged.CommittedAt, segments[0].Level + 1));
        Interlocked.Add(ref _storedBytes, encoded.Length);

        BackupLog.Maintained(Logger, Name, $"merged {segments.Count} segments of level {segments[0].Level} into transactions {merged.FirstTransaction}-{merged.LastTransaction} ({encoded.Length} bytes)");
    }

    private async Task<bool> ApplyRetentionAsync(DateTimeOffset now, CancellationToken token)
    {
        var doomed = _catalog.Expired(now, _options.Retention);

        foreach (var stored in doomed)
        {
            await _target.DeleteAsync(stored.Key, token).ConfigureAwait(false);
            _catalog.Remove(stored);
        }

        if (doomed.Count > 0)
        {
            BackupLog.Maintained(Logger, Name, $"deleted {doomed.Count} objects no restore point within {_options.Retention} needs");
        }

        return doomed.Count > 0;
    }
}
