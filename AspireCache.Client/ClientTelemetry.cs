using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace AspireCache.Client;

/// <summary>The client's <see cref="ActivitySource"/> and <see cref="Meter"/>, both named <see cref="Name"/>.</summary>
public static class AspireCacheClientTelemetry
{
    /// <summary><c>AspireCache.Client</c>: the name of the activity source and of the meter (add them to OpenTelemetry).</summary>
    public const string Name = "AspireCache.Client";

    internal static readonly ActivitySource Source = new(Name);
    internal static readonly Meter Meter = new(Name);

    /// <summary>Attempts after the first, by operation and reason (<c>421</c>, <c>503</c>, <c>connection</c>).</summary>
    internal static readonly Counter<long> Retries = Meter.CreateCounter<long>("aspirecache.client.retries", description: "Attempts of a call after its first one.");

    /// <summary>Calls that ended with an exception, by operation and error type.</summary>
    internal static readonly Counter<long> Errors = Meter.CreateCounter<long>("aspirecache.client.errors", description: "Calls that ended with an error.");

    /// <summary>Watch streams re-opened after a drop, and resyncs after a 410.</summary>
    internal static readonly Counter<long> WatchReconnects = Meter.CreateCounter<long>("aspirecache.client.watch.reconnects", description: "Watch streams re-opened (reason: dropped, closed, resync).");

    /// <summary>Reads answered by a near cache (a cached absence included).</summary>
    internal static readonly Counter<long> NearCacheHits = Meter.CreateCounter<long>("aspirecache.nearcache.hits", description: "Reads answered from the near cache.");

    /// <summary>Near-cache reads sent to the cluster, by reason (miss, scope, no-progress, behind).</summary>
    internal static readonly Counter<long> NearCacheMisses = Meter.CreateCounter<long>("aspirecache.nearcache.misses", description: "Near-cache reads answered by the cluster (reason: miss, scope, no-progress, behind).");

    /// <summary>How long a linearizable near-cache read waited for its progress probe and the stream (the watch lag it saw).</summary>
    internal static readonly Histogram<double> NearCacheWait = Meter.CreateHistogram<double>("aspirecache.nearcache.wait", unit: "s", description: "Wait of a linearizable near-cache read for a confirmed revision and the stream to reach it.");

    /// <summary>Reads per batch the client sent (<c>POST /cluster/read-batch</c>; its count is the number of batches).</summary>
    internal static readonly Histogram<int> ReadBatchKeys = Meter.CreateHistogram<int>("aspirecache.client.read_batch.keys", unit: "{key}", description: "Reads per coalesced read batch sent (its count is the number of batches).", advice: new InstrumentAdvice<int> { HistogramBucketBoundaries = [1, 2, 4, 8, 16, 32, 64, 128, 256] });

    /// <summary>Writes per batch the client sent (<c>POST /cluster/write-batch</c>; its count is the number of batches).</summary>
    internal static readonly Histogram<int> WriteBatchWrites = Meter.CreateHistogram<int>("aspirecache.client.write_batch.writes", unit: "{write}", description: "Writes per coalesced write batch sent (its count is the number of batches).", advice: new InstrumentAdvice<int> { HistogramBucketBoundaries = [1, 2, 4, 8, 16, 32, 64, 128, 256] });

    internal static readonly Histogram<double> Duration = Meter.CreateHistogram<double>("aspirecache.client.duration", unit: "s", description: "Duration of a call, retries included.");
}
