using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace AspireCache.Router.Diagnostics;

/// <summary>The router's ActivitySource and Meter, both named <c>AspireCache.Router</c>.</summary>
internal sealed class RouterTelemetry : IDisposable
{
    public const string Name = "AspireCache.Router";

    public static readonly ActivitySource Source = new(Name);

    private readonly Meter _meter;
    private readonly Counter<long> _leaderChanges;
    private readonly Counter<long> _rejected;
    private readonly Counter<long> _retries;
    private readonly Counter<long> _rateLimited;
    private readonly Counter<long> _rateLimitOverflowed;
    private readonly Counter<long> _credentialChecks;
    private readonly Histogram<int> _readBatchKeys;
    private readonly Counter<long> _readsForwardedAlone;
    private readonly Histogram<int> _writeBatchWrites;
    private readonly Counter<long> _writesForwardedAlone;

    public RouterTelemetry(IMeterFactory meterFactory)
    {
        _meter = meterFactory.Create(Name);
        _leaderChanges = _meter.CreateCounter<long>("aspirecache.router.leader_changes", "{change}", "Leader changes observed by the router.");
        _retries = _meter.CreateCounter<long>("aspirecache.router.retries", "{attempt}", "Requests sent again to another node, by reason: not leader (421), unavailable (503), unreachable, deposed (a write abandoned on a leader the router saw replaced by a newer election).");
        _rejected = _meter.CreateCounter<long>("aspirecache.router.rejected", "{request}", "Requests the router answered itself because no node could serve them.");
        _rateLimited = _meter.CreateCounter<long>("aspirecache.router.rate_limited", "{request}", "Requests answered 429 because their caller (credential or address) was over its rate, by route and caller kind.");
        _rateLimitOverflowed = _meter.CreateCounter<long>("aspirecache.router.rate_limit.overflowed", "{request}", "Requests of callers not tracked because the rate limiter's table was full (they share one overflow bucket).");
        _readBatchKeys = _meter.CreateHistogram<int>("aspirecache.router.read_batch.keys", "{key}", "Keys per coalesced read batch sent to a node (its count is the number of batches).", advice: new InstrumentAdvice<int> { HistogramBucketBoundaries = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1000] });
        _readsForwardedAlone = _meter.CreateCounter<long>("aspirecache.router.read_batch.forwarded_alone", "{request}", "Coalescable GETs forwarded on their own instead, by reason (skipped by the node, batch-failed, queue-full, groups-full, contended: its group closed under it twice).");
        _writeBatchWrites = _meter.CreateHistogram<int>("aspirecache.router.write_batch.writes", "{write}", "Writes per coalesced write batch sent to the leader (its count is the number of batches).", advice: new InstrumentAdvice<int> { HistogramBucketBoundaries = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1000] });
        _writesForwardedAlone = _meter.CreateCounter<long>("aspirecache.router.write_batch.forwarded_alone", "{request}", "Coalescable writes forwarded on their own instead, by reason (skipped by the node, not-leader, batch-failed, queue-full, groups-full, contended: its group closed under it twice, bytes-full, too-long).");
        _credentialChecks = _meter.CreateCounter<long>("aspirecache.router.credential_checks", "{check}", "Credentials of /router/topology callers checked with a node, by result (accepted, unauthenticated, forbidden, unavailable).");
    }

    /// <summary>Gauge of the callers the rate limiter tracks (bounded by <c>Router:RateLimit:MaxPartitions</c>).</summary>
    public void ObserveRateLimitPartitions(Func<int> count) =>
        _meter.CreateObservableGauge("aspirecache.router.rate_limit.partitions", count, "{caller}", "Callers (credentials and addresses) the rate limiter tracks.");

    /// <summary>Gauge of the remembered outcomes of /router/topology credential checks (bounded).</summary>
    public void ObserveCredentialCache(Func<int> count) =>
        _meter.CreateObservableGauge("aspirecache.router.credential_cache.entries", count, "{credential}", "Outcomes of /router/topology credential checks the router remembers.");

    /// <summary>Gauge of the node × credential pairs with coalesced reads queued or in flight (bounded by <c>Router:ReadCoalescing:MaxGroups</c>).</summary>
    public void ObserveReadBatchGroups(Func<int> count) =>
        _meter.CreateObservableGauge("aspirecache.router.read_batch.groups", count, "{group}", "Node and credential pairs with coalesced reads queued or in flight.");

    /// <summary>Gauge of the leader × credential pairs with coalesced writes queued or in flight (bounded by <c>Router:WriteCoalescing:MaxGroups</c>).</summary>
    public void ObserveWriteBatchGroups(Func<int> count, Func<long> queuedBytes)
    {
        _meter.CreateObservableGauge("aspirecache.router.write_batch.groups", count, "{group}", "Leader and credential pairs with coalesced writes queued or in flight.");
        _meter.CreateObservableGauge("aspirecache.router.write_batch.queued_bytes", queuedBytes, "By", "Value bytes of coalesced writes queued or in flight (bounded by Router:WriteCoalescing:MaxQueuedBytes).");
    }

    public void WriteBatchSent(int writes) => _writeBatchWrites.Record(writes);

    public void WriteForwardedAlone(string reason) => _writesForwardedAlone.Add(1, new KeyValuePair<string, object?>("reason", reason));

    public void ReadBatchSent(int keys) => _readBatchKeys.Record(keys);

    public void ReadForwardedAlone(string reason) => _readsForwardedAlone.Add(1, new KeyValuePair<string, object?>("reason", reason));

    public void RateLimited(string route, string caller) => _rateLimited.Add(1, new("route", route), new("caller", caller));

    public void RateLimitOverflowed() => _rateLimitOverflowed.Add(1);

    public void CredentialChecked(string result) => _credentialChecks.Add(1, new KeyValuePair<string, object?>("result", result));

    public void LeaderChanged(string? leader) => _leaderChanges.Add(1, new KeyValuePair<string, object?>("leader", leader ?? "none"));

    public void Retried(string route, string reason) => _retries.Add(1, new("route", route), new("reason", reason));

    public void Rejected(string route, string reason) => _rejected.Add(1, new("route", route), new("reason", reason));

    public void Dispose() => _meter.Dispose();
}
