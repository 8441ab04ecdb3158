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

    public RouterTelemetry(IMeterFactory meterFactory)
    {
        _meter = meterFactory.Create(Name);
        _leaderChanges = _meter.CreateCounter<long>("aspirecache.router.leader_changes", "{change}", "Leader changes observed by the router.");
        _retries = _meter.CreateCounter<long>("aspirecache.router.retries", "{attempt}", "Requests sent again to another node (not leader, unreachable, unavailable).");
        _rejected = _meter.CreateCounter<long>("aspirecache.router.rejected", "{request}", "Requests the router answered itself because no node could serve them.");
    }

    public void LeaderChanged(string? leader) => _leaderChanges.Add(1, new KeyValuePair<string, object?>("leader", leader ?? "none"));

    public void Retried(string route, string reason) => _retries.Add(1, new("route", route), new("reason", reason));

    public void Rejected(string route, string reason) => _rejected.Add(1, new("route", route), new("reason", reason));

    public void Dispose() => _meter.Dispose();
}
