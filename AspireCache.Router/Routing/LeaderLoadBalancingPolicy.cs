using AspireCache.Router.Topology;
using Yarp.ReverseProxy.LoadBalancing;
using Yarp.ReverseProxy.Model;

namespace AspireCache.Router.Routing;

/// <summary>
/// Writes go to the current leader (<see cref="ClusterTopology.WriteLeaderId"/>: also a newly elected one
/// that is not ready yet, which proposes them at once), or nowhere (the pipeline then answers 503).
/// </summary>
internal sealed class LeaderLoadBalancingPolicy(ITopologySource monitor) : ILoadBalancingPolicy
{
    public const string PolicyName = "Leader";

    public string Name => PolicyName;

    public DestinationState? PickDestination(HttpContext context, ClusterState cluster, IReadOnlyList<DestinationState> availableDestinations)
    {
        var leader = monitor.Current.WriteLeaderId;
        if (leader is null)
        {
            return null;
        }

        foreach (var destination in availableDestinations)
        {
            if (string.Equals(ClusterTopology.NodeIdOf(destination.DestinationId), leader, StringComparison.OrdinalIgnoreCase))
            {
                context.Items[RoutingItems.Reason] = "leader";
                return destination;
            }
        }

        return null;
    }
}
