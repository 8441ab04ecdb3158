using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace AspireCache.Client.NearCache;

/// <summary>
/// The near cache of one <see cref="AspireCacheClient"/>: a <see cref="NearCacheStore"/> kept exact
/// by one watch stream over every cached prefix and hot key, shared progress probes, the automatic
/// hot-key set, and the access reports that keep the cluster's LRU and hot-key statistics honest.
/// </summary>
/// <remarks>
/// <para><b>Linearizable</b> (<see cref="Consistency.LinearizableNearCache"/>): a read takes a probe sent
/// after it began (<see cref="ProgressProbe"/>): revision R covers every write acknowledged before
/// the read began. Once the stream has delivered everything up to R (position ≥ R), the entry is the
/// key's state at some revision ≥ R that was committed before the answer: a state between the read's
/// start and its end, as a linearizable read must be. No entry → a linearizable read from the cluster
/// (kept if exact, see <see cref="NearCacheStore"/>). No probe answer, or the stream not at R within
/// <see cref="NearCacheOptions.ProgressWait"/> → a linearizable read from the cluster.</para>
/// <para><b>Bounded staleness</b> (<see cref="Consistency.BoundedStaleness"/>): answered locally while
/// the last probe whose revision the stream reached was sent less than MaxStaleness ago (by this
/// process's clock): every write acknowledged before (now − MaxStaleness) is then visible. Past half of
/// it one background probe refreshes it; past all of it readers wait for one shared probe.</para>
/// <para><b>Stale</b>: whatever is local, else a stale read from the cluster.</para>
/// </remarks>
internal sealed class NearCache : IAsyncDisposable
{
    private const int MaxHotKeys = 256;
    private const int MaxCountedKeys = 10_000;
    private const int MaxReportedKeys = 4096;
    private const int MaxWatchQueryChars = 6000;

    private static readonly ConcurrentDictionary<NearCache, byte> Live = new();

    private readonly AspireCacheClient _client;
    private readonly NearCacheOptions _options;
    private readonly string[] _prefixes;
    private readonly NearCacheStore _store;
    private readonly ProgressProbe _probes;
    private readonly CancellationTokenSource _stopping = new();
    private readonly ConcurrentDictionary<string, long> _missedReads = new(StringComparer.Ordinal);
    private readonly Task _follower;
    private readonly Task _housekeeping;
    private volatile HashSet<string> _hotKeys = new(StringComparer.Ordinal);
    private volatile string? _streamId;
    private volatile Uri? _streamNode;
    private long _freshSince;
    private int _refreshing;
    private CancellationTokenSource? _restart;
    private TaskCompletionSource _scopeChanged = new(TaskCreationOptions.RunContinuationsAsynchronously);

    static NearCache()
    {
        var meter = AspireCacheClientTelemetry.Meter;
        meter.CreateObservableGauge("aspirecache.nearcache.entries", () => Live.Keys.Sum(c => (long)c._store.Count), description: "Entries in near caches.");
        meter.CreateObservableGauge("aspirecache.nearcache.bytes", () => Live.Keys.Sum(c => c._store.Bytes), unit: "By", description: "Bytes of keys and values in near caches.");
        meter.CreateObservableCounter("aspirecache.nearcache.evictions", () => Live.Keys.Sum(c => Interlocked.Read(ref c._store.Evictions)), description: "Entries dropped for the near caches' bounds.");
        meter.CreateObservableCounter("aspirecache.nearcache.progress_requests", () => Live.Keys.Sum(c => Interlocked.Read(ref c._probes.Sent)), description: "Progress requests sent by near caches.");
    }

    public NearCache(AspireCacheClient client, NearCacheOptions options)
    {
        _client = client;
        _options = options;
        _prefixes = [.. options.Prefixes.Distinct(StringComparer.Ordinal)];
        _store = new NearCacheStore(options);
        _probes = new ProgressProbe(SendProbeAsync, _stopping.Token);
        Live.TryAdd(this, 0);
        _follower = Task.Run(FollowAsync);
        _housekeeping = Task.Run(HousekeepAsync);
    }

    internal NearCacheStore Store => _store;

    internal ProgressProbe Probes => _probes;

    /// <summary>Whether the key is cached here: under a cached prefix, or one of the hot keys.</summary>
    public bool InScope(string key)
    {
        foreach (var prefix in _prefixes)
        {
            if (key.StartsWith(prefix, StringComparison.Ordinal))
            {
                return true;
            }
        }

        return _hotKeys.Contains(key);
    }

    /// <summary>A read with one of the near-cache consistencies.</summary>
    public async Task<CacheItem?> GetAsync(string key, Consistency consistency, TimeSpan? maxStaleness, ReadOptions? options, CancellationToken token)
    {
        if (!InScope(key))
        {
            CountMiss(key, "scope");
            return (await _client.GetFromServerAsync(key, consistency == Consistency.Stale, options, token).ConfigureAwait(false)).Item;
        }

        switch (consistency)
        {
            case Consistency.Stale:
                if (_store.IsValid && TryLocal(key, out var stale))
                {
                    return stale;
                }

                return await FillAsync(key, staleRead: true, "miss", options, token).ConfigureAwait(false);

            case Consistency.BoundedStaleness:
                var bound = maxStaleness ?? _options.MaxStaleness;
                var age = Stopwatch.GetElapsedTime(Volatile.Read(ref _freshSince));
                if (_store.IsValid && Volatile.Read(ref _freshSince) != 0 && age < bound)
                {
                    if (age > bound / 2)
                    {
                        RefreshInBackground();
                    }

                    return TryLocal(key, out var bounded) ? bounded : await FillAsync(key, staleRead: false, "miss", options, token).ConfigureAwait(false);
                }

                goto default;

            default:
                var started = Stopwatch.GetTimestamp();
                var probe = await _probes.NextAsync().WaitAsync(token).ConfigureAwait(false);
                if (probe.Revision is not { } revision)
                {
                    return await FillAsync(key, staleRead: false, "no-progress", options, token).ConfigureAwait(false);
                }

                if (!await _store.WaitForAsync(revision, _options.ProgressWait, token).ConfigureAwait(false))
                {
                    return await FillAsync(key, staleRead: false, "behind", options, token).ConfigureAwait(false);
                }

                MarkFresh(probe.SentAt);
                AspireCacheClientTelemetry.NearCacheWait.Record(Stopwatch.GetElapsedTime(started).TotalSeconds);
                return TryLocal(key, out var hit) ? hit : await FillAsync(key, staleRead: false, "miss", options, token).ConfigureAwait(false);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!Live.TryRemove(this, out _))
        {
            return;
        }

        await _stopping.CancelAsync().ConfigureAwait(false);
        try
        {
            await Task.WhenAll(_follower, _housekeeping).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }

        await FlushAccessReportAsync(CancellationToken.None).ConfigureAwait(false);
        _stopping.Dispose();
    }

    private bool TryLocal(string key, out CacheItem? item)
    {
        if (!_store.TryGet(key, out var entry))
        {
            item = null;
            return false;
        }

        AspireCacheClientTelemetry.NearCacheHits.Add(1);
        Interlocked.Increment(ref _store.Hits);
        if (entry.Value is not null)
        {
            Interlocked.Increment(ref entry.Hits);
        }

        item = entry.Item;
        return true;
    }

    private async Task<CacheItem?> FillAsync(string key, bool staleRead, string reason, ReadOptions? options, CancellationToken token)
    {
        AspireCacheClientTelemetry.NearCacheMisses.Add(1, new KeyValuePair<string, object?>("reason", reason));
        var epoch = _store.Epoch;
        var (item, readAt) = await _client.GetFromServerAsync(key, staleRead, options, token).ConfigureAwait(false);
        if (readAt is { } at && item?.ExpiresAt is null)
        {
            _store.TryFill(key, item?.Value.ToArray(), item?.Version ?? 0, at, epoch);
        }

        return item;
    }

    private void MarkFresh(long sentAt)
    {
        var current = Volatile.Read(ref _freshSince);
        while (sentAt > current)
        {
            var seen = Interlocked.CompareExchange(ref _freshSince, sentAt, current);
            if (seen == current)
            {
                return;
            }

            current = seen;
        }
    }

    private void RefreshInBackground()
    {
        if (Interlocked.Exchange(ref _refreshing, 1) != 0)
        {
            return;
        }

        _ = Task.Run(async () =>
        {
            try
            {
                var probe = await _probes.NextAsync().ConfigureAwait(false);
                if (probe.Revision is { } revision && await _store.WaitForAsync(revision, _options.ProgressWait, _stopping.Token).ConfigureAwait(false))
                {
                    MarkFresh(probe.SentAt);
                }
            }
            catch (OperationCanceledException)
            {
            }
            finally
            {
                Volatile.Write(ref _refreshing, 0);
            }
        });
    }

    private Task<long?> SendProbeAsync(CancellationToken token) =>
        _streamId is { } stream && _store.IsValid
            ? _client.RequestWatchProgressAsync(stream, _streamNode, token, whenBehind: true)
            : Task.FromResult<long?>(null);

    private void CountMiss(string key, string reason)
    {
        AspireCacheClientTelemetry.NearCacheMisses.Add(1, new KeyValuePair<string, object?>("reason", reason));
        if (_options.HotKeys > 0 && (_missedReads.Count < MaxCountedKeys || _missedReads.ContainsKey(key)))
        {
            _missedReads.AddOrUpdate(key, 1, static (_, n) => n + 1);
        }
    }

    /// <summary>One watch stream at a time over the current scope; restarted exactly where it was when the scope changes.</summary>
    private async Task FollowAsync()
    {
        var failures = 0;
        while (!_stopping.IsCancellationRequested)
        {
            var hot = _hotKeys;
            if (_prefixes.Length == 0 && hot.Count == 0)
            {
                // Nothing to follow yet: wait for the first hot keys.
                var changed = Volatile.Read(ref _scopeChanged).Task;
                await changed.WaitAsync(_stopping.Token).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                continue;
            }

            using var restart = CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token);
            Volatile.Write(ref _restart, restart);
            var fresh = !_store.IsValid;
            var request = new WatchRequest
            {
                Prefixes = _prefixes,
                Keys = [.. hot],
                AfterRevision = fresh ? null : _store.Position,
                Values = true,
            };
            var resyncing = false;
            try
            {
                await foreach (var batch in _client.WatchBatchesAsync(request, restart.Token).ConfigureAwait(false))
                {
                    failures = 0;
                    var first = batch.Events[0];
                    if (first.Type == WatchEventType.Resync)
                    {
                        resyncing = true;
                        _store.BeginResync();
                    }
                    else if (first.Type == WatchEventType.Progress)
                    {
                        if (batch.StreamId is { } id)
                        {
                            _streamNode = batch.Node;
                            _streamId = id;
                        }

                        if (batch.ListedThrough is { } listed)
                        {
                            resyncing = false;
                            _store.EndResync(batch.Revision, listed);
                        }
                        else if (fresh)
                        {
                            fresh = false;
                            _store.Start(batch.Revision);
                        }
                        else
                        {
                            _store.Progress(batch.Revision);
                        }
                    }
                    else
                    {
                        // A resync's listed keys carry their own versions: they do not move the position.
                        _store.Apply(batch.Events, resyncing ? 0 : batch.Revision, InScope);
                    }
                }
            }
            catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
            {
                break;
            }
            catch (OperationCanceledException) when (restart.IsCancellationRequested)
            {
                // The scope changed: follow the new one from the same position (nothing is lost).
                if (resyncing || fresh)
                {
                    _store.Invalidate();
                }

                continue;
            }
            catch (Exception)
            {
                // The stream could not be kept (cluster unreachable for a whole deadline, ...):
                // nothing local can be trusted; start over from a fresh stream after a pause.
                _store.Invalidate();
                _streamId = null;
                failures++;
                await Task.Delay(TimeSpan.FromMilliseconds(Math.Min(5000, 100 * (1 << Math.Min(failures, 6)))), _stopping.Token)
                    .ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }
        }
    }

    private async Task HousekeepAsync()
    {
        var nextHot = Stopwatch.GetTimestamp();
        using var timer = new PeriodicTimer(_options.AccessReportInterval);
        try
        {
            while (await timer.WaitForNextTickAsync(_stopping.Token).ConfigureAwait(false))
            {
                await FlushAccessReportAsync(_stopping.Token).ConfigureAwait(false);
                if (_options.HotKeys > 0 && Stopwatch.GetTimestamp() >= nextHot)
                {
                    nextHot = Stopwatch.GetTimestamp() + (long)(_options.HotKeyInterval.TotalSeconds * Stopwatch.Frequency);
                    UpdateHotKeys();
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>The most-read keys outside the prefixes (counted since the last evaluation, plus the current set's own reads).</summary>
    private void UpdateHotKeys()
    {
        var current = _hotKeys;
        var candidates = new List<KeyValuePair<string, long>>(_missedReads);
        _missedReads.Clear();
        foreach (var key in current)
        {
            // Keys already hot are read locally (not counted as missed): keep them while they are read at all.
            if (_store.TryGet(key, out var entry))
            {
                candidates.Add(new KeyValuePair<string, long>(key, Math.Max(Volatile.Read(ref entry.Hits), 1) * 2));
            }
        }

        var next = new HashSet<string>(StringComparer.Ordinal);
        var chars = 0;
        foreach (var (key, _) in candidates.OrderByDescending(c => c.Value).ThenBy(c => c.Key, StringComparer.Ordinal))
        {
            if (next.Count >= Math.Min(_options.HotKeys, MaxHotKeys))
            {
                break;
            }

            var cost = Uri.EscapeDataString(key).Length + 5;
            if (chars + cost > MaxWatchQueryChars || !next.Add(key))
            {
                continue;
            }

            chars += cost;
        }

        if (next.SetEquals(current))
        {
            return;
        }

        _hotKeys = next;
        _store.Retain(InScope);
        Interlocked.Exchange(ref _scopeChanged, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
        try
        {
            Volatile.Read(ref _restart)?.Cancel();
        }
        catch (ObjectDisposedException)
        {
        }
    }

    private async Task FlushAccessReportAsync(CancellationToken token)
    {
        var report = _store.TakeHits(MaxReportedKeys);
        if (report.Count == 0)
        {
            return;
        }

        await _client.ReportAccessAsync(report, token).ConfigureAwait(false);
    }
}
