using System.Collections.Concurrent;
using System.Diagnostics;

namespace AspireCache.Client.NearCache;

/// <summary>
/// The near cache's entries and the revision its watch stream has delivered (its position). Changes
/// (events, fills, evictions, a resync) happen under one lock; lookups are lock-free.
/// </summary>
/// <remarks>
/// <para>Invariant: while the store is <see cref="IsValid"/>, every entry is its key's state at the
/// position: the entry was taken at revision <c>AsOf</c> and every change to the key after
/// <c>AsOf</c> up to the position has been applied to it.</para>
/// <list type="bullet">
/// <item>Events of one revision are applied together, then the position moves (a reader that sees
/// the new position sees all of them: the position is published after the entries).</item>
/// <item>An event is applied to an entry only if its revision is above the entry's <c>AsOf</c>.</item>
/// <item>A value read from the cluster at revision F is kept only if F ≥ the position: the events
/// after the position, those after F among them, are still to come; those in (position, F] are
/// skipped by the rule above. Kept the other way round, a change between F and the position would
/// never reach the entry.</item>
/// <item>Keys with a TTL are not kept: a node hides them at <c>expiresAt</c> by its own clock,
/// which this process cannot reproduce exactly.</item>
/// <item>A resync (410) empties the store and makes it invalid until the stream has delivered every
/// listed page's revision.</item>
/// </list>
/// </remarks>
internal sealed class NearCacheStore(NearCacheOptions options)
{
    private static readonly long RecencyResolution = Stopwatch.Frequency / 100;

    private readonly ConcurrentDictionary<string, Entry> _entries = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();
    private long _position;
    private long _validFrom = long.MaxValue;
    private long _bytes;
    private long _epoch;
    private TaskCompletionSource _advanced = NewSignal();

    /// <summary>A cached key: its value (null = the key is absent) at revision <see cref="AsOf"/>.</summary>
    internal sealed class Entry(string key, byte[]? value, long version, long asOf)
    {
        public byte[]? Value { get; } = value;

        public long Version { get; } = version;

        public long AsOf { get; } = asOf;

        /// <summary>The answer handed out for a hit (immutable: built once, shared by every hit).</summary>
        public CacheItem? Item { get; } = value is null ? null : new CacheItem(key, value, version, null);

        public long LastUsed = Stopwatch.GetTimestamp();

        /// <summary>Local hits not yet reported to the cluster.</summary>
        public long Hits;

        public long Size(string key) => (key.Length * 2) + (Value?.Length ?? 0) + 64;
    }

    /// <summary>The revision the stream has delivered every change up to.</summary>
    public long Position => Volatile.Read(ref _position);

    /// <summary>Whether entries may answer reads: the stream is live and its state is at one revision.</summary>
    public bool IsValid => Volatile.Read(ref _position) >= Volatile.Read(ref _validFrom);

    public int Count => _entries.Count;

    public long Bytes => Volatile.Read(ref _bytes);

    /// <summary>Changes on every resync and invalidation: a fill started before one is not kept after it.</summary>
    public long Epoch => Volatile.Read(ref _epoch);

    /// <summary>Entries dropped for the bounds (for the metric).</summary>
    public long Evictions;

    /// <summary>Resyncs (410) the store went through.</summary>
    public long Resyncs;

    /// <summary>Reads answered from the store.</summary>
    public long Hits;

    /// <summary>Takes the unreported hit counts of up to <paramref name="max"/> entries.</summary>
    public Dictionary<string, long> TakeHits(int max)
    {
        var report = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var (key, entry) in _entries)
        {
            if (report.Count >= max)
            {
                break;
            }

            if (Volatile.Read(ref entry.Hits) > 0 && Interlocked.Exchange(ref entry.Hits, 0) is var hits and > 0)
            {
                report[key] = hits;
            }
        }

        return report;
    }

    public bool TryGet(string key, out Entry entry)
    {
        if (_entries.TryGetValue(key, out entry!))
        {
            // Recency to ~10 ms: readers on many threads do not all write the same cache line per hit.
            var now = Stopwatch.GetTimestamp();
            if (now - entry.LastUsed > RecencyResolution)
            {
                entry.LastUsed = now;
            }

            return true;
        }

        return false;
    }

    /// <summary>Waits until the position reaches <paramref name="revision"/> and the store is valid; false after <paramref name="timeout"/>.</summary>
    public async ValueTask<bool> WaitForAsync(long revision, TimeSpan timeout, CancellationToken token)
    {
        if (IsValid && Position >= revision)
        {
            return true;
        }

        var deadline = Stopwatch.GetTimestamp() + (long)(timeout.TotalSeconds * Stopwatch.Frequency);
        while (true)
        {
            var signal = Volatile.Read(ref _advanced).Task;
            if (IsValid && Position >= revision)
            {
                return true;
            }

            var left = deadline - Stopwatch.GetTimestamp();
            if (left <= 0)
            {
                return false;
            }

            try
            {
                await signal.WaitAsync(TimeSpan.FromSeconds((double)left / Stopwatch.Frequency), token).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                return IsValid && Position >= revision;
            }
        }
    }

    /// <summary>The events of one revision (or one listed key of a resync), then the position.</summary>
    public void Apply(IReadOnlyList<WatchEvent> events, long revision, Func<string, bool> inScope)
    {
        lock (_gate)
        {
            foreach (var e in events)
            {
                ApplyOne(e, inScope);
            }

            Advance(revision);
        }
    }

    /// <summary>A progress: every change up to <paramref name="revision"/> was delivered.</summary>
    public void Progress(long revision)
    {
        lock (_gate)
        {
            Advance(revision);
        }
    }

    /// <summary>A resync began (410): forget everything; invalid until the listing's closing progress.</summary>
    public void BeginResync()
    {
        lock (_gate)
        {
            Resyncs++;
            Clear();
            Volatile.Write(ref _validFrom, long.MaxValue);
        }
    }

    /// <summary>The listing ended at <paramref name="revision"/>; the state is at one revision once the stream reaches <paramref name="listedThrough"/>.</summary>
    public void EndResync(long revision, long listedThrough)
    {
        lock (_gate)
        {
            Volatile.Write(ref _position, revision);
            Volatile.Write(ref _validFrom, listedThrough);
            Signal();
        }
    }

    /// <summary>The stream starts (or restarts) at <paramref name="revision"/> with nothing cached.</summary>
    public void Start(long revision)
    {
        lock (_gate)
        {
            Clear();
            Volatile.Write(ref _position, revision);
            Volatile.Write(ref _validFrom, revision);
            Signal();
        }
    }

    /// <summary>The stream is gone with no way to resume exactly: nothing may be answered locally.</summary>
    public void Invalidate()
    {
        lock (_gate)
        {
            Clear();
            Volatile.Write(ref _validFrom, long.MaxValue);
            Signal();
        }
    }

    /// <summary>Drops the keys that left the scope (the hot-key set changed).</summary>
    public void Retain(Func<string, bool> inScope)
    {
        lock (_gate)
        {
            foreach (var (key, entry) in _entries)
            {
                if (!inScope(key) && _entries.TryRemove(key, out _))
                {
                    _bytes -= entry.Size(key);
                }
            }
        }
    }

    /// <summary>
    /// Keeps a value read from the cluster at revision <paramref name="readAt"/> (null = absent), if
    /// it is exact at the position (see the remarks) and started in the current epoch.
    /// </summary>
    public bool TryFill(string key, byte[]? value, long version, long readAt, long epoch)
    {
        if (value is not null && value.Length > options.MaxValueBytes)
        {
            return false;
        }

        lock (_gate)
        {
            if (epoch != _epoch || !IsValid || readAt < _position)
            {
                return false;
            }

            if (_entries.TryGetValue(key, out var existing) && existing.AsOf >= readAt)
            {
                return false;
            }

            Put(key, new Entry(key, value, version, readAt));
            TrimToBounds();
            return true;
        }
    }

    private void ApplyOne(WatchEvent e, Func<string, bool> inScope)
    {
        if (_entries.TryGetValue(e.Key, out var existing) && existing.AsOf >= e.Revision)
        {
            return;
        }

        if (e.Type == WatchEventType.Put && e.ExpiresAt is null && e.Value is { } value
            && value.Length <= options.MaxValueBytes && (existing is not null || inScope(e.Key)))
        {
            Put(e.Key, new Entry(e.Key, value.ToArray(), e.Revision, e.Revision));
            TrimToBounds();
        }
        else if (existing is not null && _entries.TryRemove(e.Key, out var removed))
        {
            // Delete, expire, evict, a put with a TTL or too big: the key is no longer kept.
            _bytes -= removed.Size(e.Key);
        }
    }

    private void Put(string key, Entry entry)
    {
        var added = entry.Size(key);
        if (_entries.TryGetValue(key, out var old))
        {
            added -= old.Size(key);
        }

        _entries[key] = entry;
        _bytes += added;
    }

    private void Advance(long revision)
    {
        if (revision > _position)
        {
            Volatile.Write(ref _position, revision);
        }

        Signal();
    }

    private void Signal()
    {
        var previous = Interlocked.Exchange(ref _advanced, NewSignal());
        previous.TrySetResult();
    }

    private void Clear()
    {
        _entries.Clear();
        _bytes = 0;
        _epoch++;
    }

    /// <summary>Beyond a bound, drops the least recently used tenth of the entries (amortised: one sort per many inserts).</summary>
    private void TrimToBounds()
    {
        if (_entries.Count <= options.MaxEntries && _bytes <= options.MaxBytes)
        {
            return;
        }

        var byAge = _entries.ToArray();
        Array.Sort(byAge, (a, b) => a.Value.LastUsed.CompareTo(b.Value.LastUsed));
        var targetCount = options.MaxEntries - Math.Max(1, options.MaxEntries / 10);
        var targetBytes = options.MaxBytes - (options.MaxBytes / 10);
        foreach (var (key, entry) in byAge)
        {
            if (_entries.Count <= targetCount && _bytes <= targetBytes)
            {
                break;
            }

            if (_entries.TryRemove(key, out _))
            {
                _bytes -= entry.Size(key);
                Evictions++;
            }
        }
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}
