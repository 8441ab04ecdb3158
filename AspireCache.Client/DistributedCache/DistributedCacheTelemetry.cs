using System.Diagnostics.Metrics;

namespace AspireCache.Client.DistributedCache;

/// <summary>The distributed cache's instruments, on the client's meter (<c>AspireCache.Client</c>).</summary>
internal static class DistributedCacheTelemetry
{
    /// <summary>Sliding-expiration rewrites, by outcome (<c>written</c>, <c>superseded</c>: the key changed or was removed since the read).</summary>
    public static readonly Counter<long> SlidingRefreshes = AspireCacheClientTelemetry.Meter.CreateCounter<long>(
        "aspirecache.dcache.sliding_refreshes", description: "Sliding-expiration rewrites of distributed-cache entries (outcome: written, superseded).");

    /// <summary>HybridCache L1 entries dropped because their key changed.</summary>
    public static readonly Counter<long> L1Drops = AspireCacheClientTelemetry.Meter.CreateCounter<long>(
        "aspirecache.dcache.l1_drops", description: "HybridCache L1 entries dropped after a change of their key.");
}
