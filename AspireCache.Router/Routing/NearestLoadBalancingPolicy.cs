using AspireCache.Router.Topology;
using Microsoft.Extensions.Options;
using Yarp.ReverseProxy.LoadBalancing;
using Yarp.ReverseProxy.Model;

namespace AspireCache.Router.Routing;

/// <summary>
/// Reads go to the best healthy node: same zone as the router first (when zones are configured),
/// then the lowest smoothed latency; nodes lagging far behind the most advanced one are skipped
/// (they would make a linearizable read wait for apply). Any healthy node is correct — every node
/// serves linearizable reads through ReadIndex — so this only chooses the fastest.
/// </summary>
internal sealed class NearestLoadBalancingPolicy(ITopologySource monitor, IOptions<RouterOptions> options) : ILoadBalancingPolicy
{
    public const string PolicyName = "Nearest";

    public string Name => PolicyName;

    public DestinationState? PickDestination(HttpContext context, ClusterState cluster, IReadOnlyList<DestinationState> availableDestinations)
    {
        var nodes = monitor.Current.Nodes;
        var zone = options.Value.Zone;
        long mostApplied = 0;
        foreach (var view in nodes.Values)
        {
            if (view.Healthy && view.AppliedIndex > mostApplied)
            {
                mostApplied = view.AppliedIndex;
            }
        }

        DestinationState? best = null;
        var bestScore = (SameZone: false, Latency: double.MaxValue);
        foreach (var destination in availableDestinations)
        {
            if (!nodes.TryGetValue(ClusterTopology.NodeIdOf(destination.DestinationId), out var view)
                || !view.Healthy
                || mostApplied - view.AppliedIndex > options.Value.MaxReadLagEntries)
            {
                continue;
            }

            var sameZone = zone is not null && string.Equals(view.Zone, zone, StringComparison.OrdinalIgnoreCase);
            if (best is null || (sameZone && !bestScore.SameZone) || (sameZone == bestScore.SameZone && view.LatencyMs < bestScore.Latency))
            {
                best = destination;
                bestScore = (sameZone, view.LatencyMs);
            }
        }

        if (best is not null)
        {
            context.Items[RoutingItems.Reason] = bestScore.SameZone ? "same-zone" : "nearest";
        }

        return best;
    }
}

internal static class RoutingItems
{
    /// <summary>HttpContext.Items key: why the destination was chosen (for traces and headers).</summary>
    public const string Reason = "aspirecache.route.reason";
}
