using AspireCache.Router.Topology;
using Yarp.ReverseProxy.LoadBalancing;
using Yarp.ReverseProxy.Model;

namespace AspireCache.Router.Routing;

/// <summary>
/// Reads go to the healthy node with the lowest smoothed latency. Every node serves linearizable
/// reads through ReadIndex, so any healthy node is correct; latency decides which is best.
/// </summary>
internal sealed class NearestLoadBalancingPolicy(ITopologySource monitor) : ILoadBalancingPolicy
{
    public const string PolicyName = "Nearest";

    public string Name => PolicyName;

    public DestinationState? PickDestination(HttpContext context, ClusterState cluster, IReadOnlyList<DestinationState> availableDestinations)
    {
        var nodes = monitor.Current.Nodes;
        DestinationState? best = null;
        var bestLatency = double.MaxValue;
        foreach (var destination in availableDestinations)
        {
            if (nodes.TryGetValue(ClusterTopology.NodeIdOf(destination.DestinationId), out var view)
                && view.Healthy
                && view.LatencyMs < bestLatency)
            {
                best = destination;
                bestLatency = view.LatencyMs;
            }
        }

        if (best is not null)
        {
            context.Items[RoutingItems.Reason] = "nearest";
        }

        return best;
    }
}

internal static class RoutingItems
{
    /// <summary>HttpContext.Items key: why the destination was chosen (for traces and headers).</summary>
    public const string Reason = "aspirecache.route.reason";
}
