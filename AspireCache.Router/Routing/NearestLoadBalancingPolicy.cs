using AspireCache.Router.Topology;
using Microsoft.Extensions.Options;
using Yarp.ReverseProxy.LoadBalancing;
using Yarp.ReverseProxy.Model;

namespace AspireCache.Router.Routing;

/// <summary>
/// Reads go to a near healthy node: same zone as the router first (when zones are configured), then
/// any node whose smoothed latency is within <see cref="RouterOptions.NearLatencyToleranceMs"/> of the
/// nearest one; among those, the one with the fewest requests in flight (ties: lower latency), so
/// near-equal nodes share the read load instead of one node taking all of it. Nodes lagging far
/// behind the most advanced one are skipped (a linearizable read there would wait for apply). Any
/// healthy node is correct — every node serves linearizable reads through ReadIndex — so this only
/// chooses the fastest. A linearizable read goes to the leader when the leader is in that zone tier
/// (<see cref="RouterOptions.LinearizableReadsToLeader"/>): a follower would have to ask it anyway.
/// </summary>
internal sealed class NearestLoadBalancingPolicy(ITopologySource monitor, IOptions<RouterOptions> options) : ILoadBalancingPolicy
{
    public const string PolicyName = "Nearest";

    public string Name => PolicyName;

    public DestinationState? PickDestination(HttpContext context, ClusterState cluster, IReadOnlyList<DestinationState> availableDestinations)
    {
        var topology = monitor.Current;
        var nodes = topology.Nodes;
        var settings = options.Value;
        long mostApplied = 0;
        foreach (var view in nodes.Values)
        {
            if (view.Healthy && view.AppliedIndex > mostApplied)
            {
                mostApplied = view.AppliedIndex;
            }
        }

        // Pass 1: the best tier (same zone or not) and the lowest latency in it; the leader, if eligible.
        var anySameZone = false;
        var nearest = double.MaxValue;
        (DestinationState Destination, bool SameZone)? leader = null;
        foreach (var destination in availableDestinations)
        {
            if (Eligible(destination, nodes, mostApplied, settings) is not { } view)
            {
                continue;
            }

            var sameZone = IsSameZone(view, settings.Zone);
            if (string.Equals(view.NodeId, topology.LeaderId, StringComparison.OrdinalIgnoreCase))
            {
                leader = (destination, sameZone);
            }

            if (sameZone && !anySameZone)
            {
                anySameZone = true;
                nearest = view.LatencyMs;
            }
            else if (sameZone == anySameZone)
            {
                nearest = Math.Min(nearest, view.LatencyMs);
            }
        }

        // A linearizable read: the leader, when it is in that tier (it needs no hop to itself for the read index).
        if (leader is { } chosen && chosen.SameZone == anySameZone && settings.LinearizableReadsToLeader && IsLinearizableRead(context))
        {
            context.Items[RoutingItems.Reason] = "leader";
            return chosen.Destination;
        }

        // Pass 2: among the near nodes of that tier, the least busy.
        DestinationState? best = null;
        var bestLoad = (InFlight: int.MaxValue, Latency: double.MaxValue);
        foreach (var destination in availableDestinations)
        {
            if (Eligible(destination, nodes, mostApplied, settings) is not { } view
                || IsSameZone(view, settings.Zone) != anySameZone
                || view.LatencyMs > nearest + settings.NearLatencyToleranceMs)
            {
                continue;
            }

            var load = (destination.ConcurrentRequestCount, view.LatencyMs);
            if (best is null || load.ConcurrentRequestCount < bestLoad.InFlight
                || (load.ConcurrentRequestCount == bestLoad.InFlight && load.LatencyMs < bestLoad.Latency))
            {
                best = destination;
                bestLoad = load;
            }
        }

        if (best is not null)
        {
            context.Items[RoutingItems.Reason] = anySameZone ? "same-zone" : "nearest";
        }

        return best;
    }

    private static NodeView? Eligible(DestinationState destination, IReadOnlyDictionary<string, NodeView> nodes, long mostApplied, RouterOptions settings) =>
        nodes.TryGetValue(ClusterTopology.NodeIdOf(destination.DestinationId), out var view)
            && view.Healthy
            && mostApplied - view.AppliedIndex <= settings.MaxReadLagEntries
                ? view
                : null;

    /// <summary>A cache read (the <c>reads</c> route or a client's read batch: not a watch, not <c>/cluster/status</c>) that does not ask for <c>consistent=false</c>.</summary>
    private static bool IsLinearizableRead(HttpContext context) =>
        context.Features.Get<Yarp.ReverseProxy.Model.IReverseProxyFeature>()?.Route.Config.RouteId is ProxyRoutes.ReadsRoute or ProxyRoutes.ReadBatchRoute
        && !(context.Request.Query.TryGetValue("consistent", out var consistent) && consistent.Count == 1 && bool.TryParse(consistent[0], out var value) && !value);

    private static bool IsSameZone(NodeView view, string? zone) =>
        zone is not null && string.Equals(view.Zone, zone, StringComparison.OrdinalIgnoreCase);
}

internal static class RoutingItems
{
    /// <summary>HttpContext.Items key: why the destination was chosen (for traces and headers).</summary>
    public const string Reason = "aspirecache.route.reason";
}
