namespace AspireCache.Client.DistributedCache;

/// <summary>
/// Settings of <c>builder.AddAspireCacheDistributedCache("cache")</c>, bound from
/// <c>Aspire:AspireCache:DistributedCache</c> (then <c>Aspire:AspireCache:DistributedCache:{name}</c>);
/// the connection itself (endpoint, deadline, health check) is the client's (<see cref="AspireCacheClientSettings"/>).
/// </summary>
public sealed class AspireCacheDistributedCacheSettings
{
    /// <summary>
    /// Prepended to every <see cref="Microsoft.Extensions.Caching.Distributed.IDistributedCache"/> key
    /// (default <c>dcache/</c>): the entry <c>session/42</c> is the cache key <c>dcache/session/42</c>.
    /// Keys under the prefix belong to the distributed cache (their values carry its header).
    /// </summary>
    public string KeyPrefix { get; set; } = "dcache/";

    /// <summary>
    /// How much longer than its sliding window an entry may live, as a fraction of the window
    /// (default 0.5). An entry with sliding window W is stored with a TTL of W × (1 + tolerance) and
    /// rewritten by a read only when less than W remains, so it lives at least W and at most
    /// W × (1 + tolerance) after its last read, and steady reads cost at most one replicated write
    /// per W × tolerance per key. 0 = exact sliding expiry (a refresh whenever 1 % of the window has passed).
    /// </summary>
    public double SlidingExpirationTolerance { get; set; } = 0.5;

    /// <summary>
    /// Drop this instance's HybridCache L1 entry when its key changes on any instance (default
    /// <c>false</c>): a hosted service follows one watch stream on <see cref="KeyPrefix"/> and removes
    /// the changed key from the <c>IMemoryCache</c> that HybridCache uses as L1 (see
    /// <see cref="HybridCacheL1Invalidator"/>). Costs one watch stream per instance.
    /// </summary>
    public bool InvalidateHybridCacheL1 { get; set; }
}
