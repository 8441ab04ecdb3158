using System.Buffers;
using System.Collections.Concurrent;
using Microsoft.Extensions.Caching.Distributed;

namespace AspireCache.Client.DistributedCache;

/// <summary>
/// <see cref="IDistributedCache"/> and <see cref="IBufferDistributedCache"/> over
/// <see cref="IAspireCacheClient"/>: the entry <c>k</c> is the cache key <c>{KeyPrefix}k</c>, so
/// HybridCache, sessions and output caching sit on the cluster.
/// </summary>
/// <remarks>
/// <para><b>Reads are linearizable</b>: a <see cref="Get"/> reflects every write and remove
/// acknowledged before it began, on any instance (a <c>Remove</c> then <c>Get</c> never sees the old value).</para>
/// <para><b>Expiry is the key's TTL</b>: <see cref="DistributedCacheEntryOptions.AbsoluteExpiration"/> and
/// <see cref="DistributedCacheEntryOptions.AbsoluteExpirationRelativeToNow"/> (which wins when both are
/// set) become the TTL of the write; the cluster hides and removes the key when it runs out.</para>
/// <para><b>Sliding expiry</b> is stored with the value (<see cref="DistributedCacheEntryFormat"/>: the
/// window W and the absolute cap) and kept by rewriting the entry with a fresh TTL, a replicated write
/// that carries the value again. To keep those writes rare, the TTL written is
/// W × (1 + <see cref="AspireCacheDistributedCacheSettings.SlidingExpirationTolerance"/>) (capped by the
/// absolute expiration) and <see cref="Get"/>/<see cref="Refresh"/> rewrite only when less than W
/// remains: an entry lives at least W after its last access (unless capped) and at most W × (1 + tolerance).
/// A rewrite is conditional on the version just read (compare-and-set), so it never resurrects a
/// removed key nor overwrites a newer value (its 412 is the expected outcome then, not an error);
/// concurrent reads of one key on one instance share one rewrite, and across instances at most one
/// rewrite per version succeeds.</para>
/// <para><b>Errors</b>: the client's typed exceptions (<see cref="UnavailableException"/>,
/// <see cref="TooLargeException"/>, <see cref="InvalidKeyException"/>, <see cref="OutcomeUnknownException"/>, …)
/// propagate from every method. The synchronous methods block on the asynchronous ones.</para>
/// </remarks>
public sealed class AspireCacheDistributedCache : IDistributedCache, IBufferDistributedCache
{
    // Explicit: a client whose default is stale or bounded-staleness reads must not weaken this cache's reads.
    private static readonly ReadOptions Linearizable = new() { Consistency = Consistency.Linearizable };

    private readonly IAspireCacheClient _client;
    private readonly string _prefix;
    private readonly double _tolerance;
    private readonly TimeProvider _time;
    private readonly HybridCacheL1Coherence? _coherence;
    private readonly ConcurrentDictionary<(string Key, long Version), Lazy<Task>> _refreshes = new();

    /// <summary>Creates the cache over <paramref name="client"/>.</summary>
    /// <param name="client">The AspireCache client.</param>
    /// <param name="settings">Key prefix and sliding tolerance; defaults if null.</param>
    public AspireCacheDistributedCache(IAspireCacheClient client, AspireCacheDistributedCacheSettings? settings = null)
        : this(client, settings, coherence: null, time: null)
    {
    }

    internal AspireCacheDistributedCache(IAspireCacheClient client, AspireCacheDistributedCacheSettings? settings, HybridCacheL1Coherence? coherence, TimeProvider? time)
    {
        _client = client ?? throw new ArgumentNullException(nameof(client));
        settings ??= new AspireCacheDistributedCacheSettings();
        _prefix = settings.KeyPrefix ?? throw new ArgumentException("KeyPrefix must not be null.", nameof(settings));
        _tolerance = settings.SlidingExpirationTolerance is >= 0 and <= 100 and var t
            ? t
            : throw new ArgumentOutOfRangeException(nameof(settings), settings.SlidingExpirationTolerance, "SlidingExpirationTolerance must be within 0..100.");
        _coherence = coherence;
        _time = time ?? TimeProvider.System;
    }

    /// <summary>The prefix of every stored key.</summary>
    public string KeyPrefix => _prefix;

    /// <summary>The cache key an entry is stored under.</summary>
    /// <param name="key">The entry's key.</param>
    public string StoreKey(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        return _prefix + key;
    }

    /// <inheritdoc />
    public byte[]? Get(string key) => GetAsync(key).GetAwaiter().GetResult();

    /// <inheritdoc />
    public async Task<byte[]?> GetAsync(string key, CancellationToken token = default)
    {
        var (item, entry) = await ReadAndSlideAsync(key, token).ConfigureAwait(false);
        return item is null ? null : entry.Value.ToArray();
    }

    /// <inheritdoc />
    public bool TryGet(string key, IBufferWriter<byte> destination) => TryGetAsync(key, destination).AsTask().GetAwaiter().GetResult();

    /// <inheritdoc />
    public async ValueTask<bool> TryGetAsync(string key, IBufferWriter<byte> destination, CancellationToken token = default)
    {
        ArgumentNullException.ThrowIfNull(destination);
        var (item, entry) = await ReadAndSlideAsync(key, token).ConfigureAwait(false);
        if (item is null)
        {
            return false;
        }

        destination.Write(entry.Value.Span);
        return true;
    }

    /// <inheritdoc />
    public void Set(string key, byte[] value, DistributedCacheEntryOptions options) => SetAsync(key, value, options).GetAwaiter().GetResult();

    /// <inheritdoc />
    public Task SetAsync(string key, byte[] value, DistributedCacheEntryOptions options, CancellationToken token = default)
    {
        ArgumentNullException.ThrowIfNull(value);
        return SetAsync(key, new ReadOnlySequence<byte>(value), options, token).AsTask();
    }

    /// <inheritdoc />
    public void Set(string key, ReadOnlySequence<byte> value, DistributedCacheEntryOptions options) => SetAsync(key, value, options).AsTask().GetAwaiter().GetResult();

    /// <inheritdoc />
    public async ValueTask SetAsync(string key, ReadOnlySequence<byte> value, DistributedCacheEntryOptions options, CancellationToken token = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        var storeKey = StoreKey(key);
        var now = _time.GetUtcNow();
        var absolute = options.AbsoluteExpirationRelativeToNow is { } relative ? now + relative : options.AbsoluteExpiration;
        if (absolute <= now)
        {
            throw new ArgumentOutOfRangeException(nameof(options), absolute, "The absolute expiration value must be in the future.");
        }

        var sliding = options.SlidingExpiration;
        var ttl = sliding is { } window ? Min(Extended(window), absolute - now) : absolute - now;
        var rented = DistributedCacheEntryFormat.EncodeRented(value, sliding, sliding is null ? null : absolute, out var length);
        var own = _coherence is not null && LooksLikeHybridCachePayload(value);
        if (own)
        {
            _coherence!.BeginOwnWrite(storeKey);
        }

        long? version = null;
        try
        {
            version = await _client.SetAsync(storeKey, rented.AsMemory(0, length), new SetOptions { Ttl = ttl }, token).ConfigureAwait(false);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
            if (own)
            {
                _coherence!.EndOwnWrite(storeKey, version);
            }
        }
    }

    /// <inheritdoc />
    public void Refresh(string key) => RefreshAsync(key).GetAwaiter().GetResult();

    /// <inheritdoc />
    public Task RefreshAsync(string key, CancellationToken token = default) => ReadAndSlideAsync(key, token);

    /// <inheritdoc />
    public void Remove(string key) => RemoveAsync(key).GetAwaiter().GetResult();

    /// <inheritdoc />
    public Task RemoveAsync(string key, CancellationToken token = default) => _client.DeleteAsync(StoreKey(key), cancellationToken: token);

    /// <summary>Reads the entry (linearizable) and, if its sliding window asks for it, extends its TTL.</summary>
    private async Task<(CacheItem? Item, StoredEntry Entry)> ReadAndSlideAsync(string key, CancellationToken token)
    {
        var storeKey = StoreKey(key);
        var item = _coherence is null
            ? await _client.GetAsync(storeKey, Linearizable, token).ConfigureAwait(false)
            : await _coherence.ReadAsync(storeKey, t => _client.GetAsync(storeKey, Linearizable, t), token).ConfigureAwait(false);
        if (item is null)
        {
            return (null, default);
        }

        var entry = DistributedCacheEntryFormat.Decode(item.Value);
        if (entry.Sliding is { } window && item.ExpiresAt is { } expiresAt && RefreshTtl(window, entry.Absolute, expiresAt) is { } ttl)
        {
            await RefreshAsync(storeKey, item, ttl, token).ConfigureAwait(false);
        }

        return (item, entry);
    }

    /// <summary>
    /// The TTL to rewrite the entry with, or null when no rewrite is due: less than the window (or
    /// what is left before the absolute cap) remains, and the rewrite would gain at least
    /// W × max(tolerance, 0.02) / 2.
    /// </summary>
    internal TimeSpan? RefreshTtl(TimeSpan window, DateTimeOffset? absolute, DateTimeOffset expiresAt)
    {
        var now = _time.GetUtcNow();
        var remaining = expiresAt - now;
        var capped = absolute is { } at ? at - now : TimeSpan.MaxValue;
        if (capped <= TimeSpan.Zero)
        {
            return null;
        }

        var floor = Min(window, capped);
        var target = Min(Extended(window), capped);
        var minimumGain = window * (Math.Max(_tolerance, 0.02) / 2);
        return remaining < floor && target - remaining >= minimumGain ? target : null;
    }

    private Task RefreshAsync(string storeKey, CacheItem item, TimeSpan ttl, CancellationToken token)
    {
        // One rewrite per key and version on this instance: concurrent readers share it (the Lazy
        // makes sure a losing GetOrAdd never starts a second one), and a caller's cancellation
        // leaves it running for the others (it is bounded by the client's deadline).
        var id = (storeKey, item.Version);
        var refresh = _refreshes.GetOrAdd(id, static (id, state) => new Lazy<Task>(() => state.Self.RewriteAsync(id, state.Item, state.Ttl)), (Self: this, Item: item, Ttl: ttl));
        return refresh.Value.WaitAsync(token);
    }

    private async Task RewriteAsync((string Key, long Version) id, CacheItem item, TimeSpan ttl)
    {
        try
        {
            await _client.SetAsync(id.Key, item.Value, new SetOptions { Ttl = ttl, IfVersion = item.Version }).ConfigureAwait(false);
            DistributedCacheTelemetry.SlidingRefreshes.Add(1, new KeyValuePair<string, object?>("outcome", "written"));
        }
        catch (PreconditionFailedException)
        {
            // Changed or removed since the read: that newer write decided its own expiry, and a
            // removed key stays removed.
            DistributedCacheTelemetry.SlidingRefreshes.Add(1, new KeyValuePair<string, object?>("outcome", "superseded"));
        }
        finally
        {
            _refreshes.TryRemove(id, out _);
        }
    }

    private TimeSpan Extended(TimeSpan window) => window + (window * _tolerance);

    private static TimeSpan Min(TimeSpan a, TimeSpan? b) => b is { } other && other < a ? other : a;

    /// <summary>HybridCache's L2 payload (format v1) starts and ends with the sentinel 0x03 0x01.</summary>
    private static bool LooksLikeHybridCachePayload(in ReadOnlySequence<byte> value)
    {
        if (value.Length < 16)
        {
            return false;
        }

        Span<byte> head = stackalloc byte[2];
        Span<byte> tail = stackalloc byte[2];
        value.Slice(0, 2).CopyTo(head);
        value.Slice(value.Length - 2).CopyTo(tail);
        return head is [0x03, 0x01] && tail is [0x03, 0x01];
    }
}
