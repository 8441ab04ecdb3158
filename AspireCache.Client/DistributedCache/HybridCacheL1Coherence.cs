using System.Diagnostics;

namespace AspireCache.Client.DistributedCache;

/// <summary>
/// What <see cref="AspireCacheDistributedCache"/> (L2) and <see cref="HybridCacheL1Invalidator"/> (the
/// watch) share so that a change seen on the stream really drops HybridCache's L1 entry, even when it
/// races an L1 fill, and so that HybridCache's own writes do not drop the entry they just set.
/// </summary>
/// <remarks>
/// <para>
/// HybridCache fills L1 from the bytes our <c>GetAsync</c>/<c>TryGetAsync</c> returned, a moment
/// after they were returned. Three races are closed here:
/// </para>
/// <list type="number">
/// <item>A change arrives on the stream while a read of the key is in flight: when the read returns a
/// version older than the change (or a value for a removed key), it is repeated before the bytes are
/// handed out. The repeat starts after the change was applied, so it is linearizably newer.</item>
/// <item>A change arrives after a read handed out an older value, but before HybridCache stored it in
/// L1 (within <see cref="HandoffGrace"/>): the L1 entry is removed at once, and again when it lands
/// (polled every <see cref="LandingPoll"/> for at most <see cref="HandoffGrace"/>; the first entry that
/// appears is removed). A stale entry can be served for at most about one poll interval.</item>
/// <item>HybridCache's own write (<c>SetAsync</c>, or a factory result) puts the new value into L1
/// before it writes L2: change events up to that write's version are skipped (the L1 entry already is
/// that version, or newer). Events of a key while such a write is in flight wait until its version is
/// known. Only writes in HybridCache's payload format count as its own; any other write (a plain
/// <c>IDistributedCache</c> call, a remove, a sliding refresh) drops L1. When an older read of the key
/// may still be landing in L1 (rule 2), nothing is skipped.</item>
/// </list>
/// Per-key state exists only while a read or write is in flight or within <see cref="HandoffGrace"/>
/// after it, and is swept regularly: the table is bounded by the keys in use.
/// </remarks>
internal sealed class HybridCacheL1Coherence
{
    /// <summary>How long after a read returned its bytes HybridCache may still be storing them in L1.</summary>
    public static readonly TimeSpan HandoffGrace = TimeSpan.FromSeconds(1);

    /// <summary>Polling interval while waiting for a raced L1 fill to land.</summary>
    public static readonly TimeSpan LandingPoll = TimeSpan.FromMilliseconds(2);

    private const int MaxRepeatedReads = 8;

    private readonly object _gate = new();
    private readonly Dictionary<string, KeyState> _keys = new(StringComparer.Ordinal);
    private Action<string, bool>? _drop;
    private long _operations;

    /// <summary>Number of keys tracked (for tests and metrics).</summary>
    public int TrackedKeys
    {
        get
        {
            lock (_gate)
            {
                return _keys.Count;
            }
        }
    }

    /// <summary>Number of reads repeated because a change overtook them.</summary>
    public long RepeatedReads => Interlocked.Read(ref _repeatedReads);

    /// <summary>Number of change events skipped as this instance's own HybridCache writes.</summary>
    public long SkippedOwnWrites => Interlocked.Read(ref _skippedOwnWrites);

    private long _repeatedReads;
    private long _skippedOwnWrites;

    /// <summary>Called by the invalidator: how to drop a key's L1 entry (store key, and whether to also remove it when a raced fill lands).</summary>
    public void Attach(Action<string, bool> drop) => _drop = drop;

    /// <summary>Reads through this method see every change the stream reported while they were in flight (race 1).</summary>
    public async Task<CacheItem?> ReadAsync(string key, Func<CancellationToken, Task<CacheItem?>> read, CancellationToken cancellationToken)
    {
        var ticket = new ReadTicket();
        lock (_gate)
        {
            State(key).Tickets.Add(ticket);
        }

        CacheItem? item = null;
        try
        {
            for (var attempt = 1; ; attempt++)
            {
                item = await read(cancellationToken).ConfigureAwait(false);
                lock (_gate)
                {
                    if (attempt >= MaxRepeatedReads || !ticket.IsStale(item))
                    {
                        break;
                    }

                    // The repeat starts after the change was applied: it is at least as new.
                    ticket.Revision = 0;
                }

                Interlocked.Increment(ref _repeatedReads);
            }

            return item;
        }
        finally
        {
            lock (_gate)
            {
                var state = State(key);
                state.Tickets.Remove(ticket);
                state.HandedOut = item?.Version ?? 0;
                state.HandedOutAt = Stopwatch.GetTimestamp();
                state.Touched = state.HandedOutAt;
                SweepSometimes();
            }
        }
    }

    /// <summary>A write of HybridCache's payload to <paramref name="key"/> begins (race 3).</summary>
    public void BeginOwnWrite(string key)
    {
        lock (_gate)
        {
            State(key).Writes++;
        }
    }

    /// <summary>The write ended: its version, or null if it failed.</summary>
    public void EndOwnWrite(string key, long? version)
    {
        List<Parked>? release = null;
        lock (_gate)
        {
            var state = State(key);
            state.Writes--;
            state.Touched = Stopwatch.GetTimestamp();
            if (version is { } v && v > state.OwnMax)
            {
                state.OwnMax = v;
            }

            if (state.Writes == 0 && state.Parked is { } parked)
            {
                state.Parked = null;
                foreach (var change in parked)
                {
                    if (Skip(state, change.Revision, change.Landing))
                    {
                        Interlocked.Increment(ref _skippedOwnWrites);
                    }
                    else
                    {
                        (release ??= []).Add(change);
                    }
                }
            }

            SweepSometimes();
        }

        if (release is not null)
        {
            foreach (var change in release)
            {
                _drop?.Invoke(key, change.Landing);
            }
        }
    }

    /// <summary>The stream reported a change of <paramref name="key"/>: drop its L1 entry now, later, or not at all.</summary>
    public void OnChange(string key, long revision, bool removal)
    {
        var landing = false;
        lock (_gate)
        {
            if (_keys.TryGetValue(key, out var state))
            {
                foreach (var ticket in state.Tickets)
                {
                    ticket.Saw(revision, removal);
                }

                // A read that found the key absent lands nothing in L1 (HybridCache then stores its
                // factory's result, which it also writes: an own write).
                landing = state.HandedOut > 0
                    && Stopwatch.GetElapsedTime(state.HandedOutAt) < HandoffGrace
                    && ReadTicket.IsOlder(state.HandedOut, revision, removal);
                if (state.Writes > 0)
                {
                    (state.Parked ??= []).Add(new Parked(revision, landing));
                    return;
                }

                if (Skip(state, revision, landing))
                {
                    Interlocked.Increment(ref _skippedOwnWrites);
                    return;
                }
            }
        }

        _drop?.Invoke(key, landing);
    }

    /// <summary>
    /// L1 holds the value of our own write at <see cref="KeyState.OwnMax"/> (HybridCache stores it in
    /// L1 before writing L2) or newer: a change at or below that version is not newer than L1. Not so
    /// when an older read may still be landing in L1 (HybridCache's own fill racing its write).
    /// </summary>
    private static bool Skip(KeyState state, long revision, bool landing) => !landing && revision <= state.OwnMax;

    /// <summary>Forgets keys with nothing in flight and no hand-out within <see cref="HandoffGrace"/>.</summary>
    public void Sweep()
    {
        lock (_gate)
        {
            SweepLocked();
        }
    }

    private void SweepSometimes()
    {
        if (++_operations % 1024 == 0)
        {
            SweepLocked();
        }
    }

    private void SweepLocked()
    {
        List<string>? idle = null;
        foreach (var (key, state) in _keys)
        {
            if (state.Tickets.Count == 0 && state.Writes == 0 && state.Parked is null && Stopwatch.GetElapsedTime(state.Touched) > HandoffGrace)
            {
                (idle ??= []).Add(key);
            }
        }

        if (idle is not null)
        {
            foreach (var key in idle)
            {
                _keys.Remove(key);
            }
        }
    }

    private KeyState State(string key)
    {
        if (!_keys.TryGetValue(key, out var state))
        {
            state = new KeyState { Touched = Stopwatch.GetTimestamp() };
            _keys[key] = state;
        }

        return state;
    }

    private readonly record struct Parked(long Revision, bool Landing);

    private sealed class KeyState
    {
        public List<ReadTicket> Tickets { get; } = [];

        /// <summary>The version the last read handed out (0 = absent), -1 if none.</summary>
        public long HandedOut { get; set; } = -1;

        public long HandedOutAt { get; set; }

        public long Touched { get; set; }

        public int Writes { get; set; }

        /// <summary>The highest version of this instance's own HybridCache writes (0 = none).</summary>
        public long OwnMax { get; set; }

        public List<Parked>? Parked { get; set; }
    }

    /// <summary>One read in flight: the newest change the stream reported meanwhile.</summary>
    private sealed class ReadTicket
    {
        public long Revision { get; set; }

        private bool Removal { get; set; }

        public void Saw(long revision, bool removal)
        {
            if (revision > Revision)
            {
                Revision = revision;
                Removal = removal;
            }
        }

        public bool IsStale(CacheItem? item) => Revision > 0 && IsOlder(item?.Version ?? 0, Revision, Removal);

        /// <summary>Whether a read that found <paramref name="version"/> (0 = absent) is older than the change.</summary>
        public static bool IsOlder(long version, long revision, bool removal) =>
            removal ? version > 0 && version < revision : version < revision;
    }
}
