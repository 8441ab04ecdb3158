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

    public RouterTelemetry(IMeterFactory meterFactory)
    {
        _meter = meterFactory.Create(Name);
        _leaderChanges = _meter.CreateCounter<long>("aspirecache.router.leader_changes", "{change}", "Leader changes observed by the router.");
        _retries = _meter.CreateCounter<long>("aspirecache.router.retries", "{attempt}", "Requests sent again to another node (not leader, unreachable, unavailable).");
        _rejected = _meter.CreateCounter<long>("aspirecache.router.rejected", "{request}", "Requests the router answered itself because no node could serve them.");
        _rateLimited = _meter.CreateCounter<long>("aspirecache.router.rate_limited", "{request}", "Requests answered 429 because their caller (credential or address) was over its rate, by route and caller kind.");
        _rateLimitOverflowed = _meter.CreateCounter<long>("aspirecache.router.rate_limit.overflowed", "{request}", "Requests of callers not tracked because the rate limiter's table was full (they share one overflow bucket).");
        _credentialChecks = _meter.CreateCounter<long>("aspirecache.router.credential_checks", "{check}", "Credentials of /router/topology callers checked with a node, by result (accepted, unauthenticated, forbidden, unavailable).");
    }

    /// <summary>Gauge of the callers the rate limiter tracks (bounded by <c>Router:RateLimit:MaxPartitions</c>).</summary>
    public void ObserveRateLimitPartitions(Func<int> count) =>
        _meter.CreateObservableGauge("aspirecache.router.rate_limit.partitions", count, "{caller}", "Callers (credentials and addresses) the rate limiter tracks.");

    /// <summary>Gauge of the remembered outcomes of /router/topology credential checks (bounded).</summary>
    public void ObserveCredentialCache(Func<int> count) =>
        _meter.CreateObservableGauge("aspirecache.router.credential_cache.entries", count, "{credential}", "Outcomes of /router/topology credential checks the router remembers.");

    public void RateLimited(string route, string caller) => _rateLimited.Add(1, new("route", route), new("caller", caller));

    public void RateLimitOverflowed() => _rateLimitOverflowed.Add(1);

    public void CredentialChecked(string result) => _credentialChecks.Add(1, new KeyValuePair<string, object?>("result", result));

    public void LeaderChanged(string? leader) => _leaderChanges.Add(1, new KeyValuePair<string, object?>("leader", leader ?? "none"));

    public void Retried(string route, string reason) => _retries.Add(1, new("route", route), new("reason", reason));

    public void Rejected(string route, string reason) => _rejected.Add(1, new("route", route), new("reason", reason));

    public void Dispose() => _meter.Dispose();
}
