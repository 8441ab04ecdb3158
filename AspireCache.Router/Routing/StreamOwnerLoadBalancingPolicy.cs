using AspireCache.Router.Topology;
using Yarp.ReverseProxy.LoadBalancing;
using Yarp.ReverseProxy.Model;

namespace AspireCache.Router.Routing;

/// <summary>
/// Requests about one watch stream (<c>/cache/watch/{streamId}/progress</c>) go to the node that
/// serves it: a stream id starts with that node's id (<c>node2.1a2b-7</c>).
/// </summary>
internal sealed class StreamOwnerLoadBalancingPolicy : ILoadBalancingPolicy
{
    public const string PolicyName = "StreamOwner";

    public string Name => PolicyName;

    public DestinationState? PickDestination(HttpContext context, ClusterState cluster, IReadOnlyList<DestinationState> availableDestinations)
    {
        if (context.GetRouteValue("streamId") is not string streamId)
        {
            return null;
        }

        var dot = streamId.IndexOf('.');
        if (dot <= 0)
        {
            return null;
        }

        var node = streamId.AsSpan(0, dot);
        foreach (var destination in availableDestinations)
        {
            if (node.Equals(ClusterTopology.NodeIdOf(destination.DestinationId), StringComparison.OrdinalIgnoreCase))
            {
                context.Items[RoutingItems.Reason] = "stream-owner";
                return destination;
            }
        }

        return null;
    }
}
