using AspireCache.Router.Topology;

namespace AspireCache.Tests.Unit;

public sealed class RoutingPolicyTests
{
    private static NodeView Node(string id, string role, long term, bool healthy = true, double latency = 1, string? leader = null) =>
        new(id, healthy, role, term, leader, 0, latency);

    [Fact]
    public void The_leader_is_the_node_that_says_so_in_the_highest_term()
    {
        var topology = ClusterTopology.From(new Dictionary<string, NodeView>
        {
            ["node1"] = Node("node1", "leader", 3),
            ["node2"] = Node("node2", "leader", 4),
            ["node3"] = Node("node3", "follower", 4, leader: "node2"),
        });

        Assert.Equal("node2", topology.LeaderId);
        Assert.Equal(4, topology.Term);
    }

    [Fact]
    public void A_deposed_leader_in_an_older_term_is_not_trusted()
    {
        var topology = ClusterTopology.From(new Dictionary<string, NodeView>
        {
            ["node1"] = Node("node1", "leader", 3),
            ["node2"] = Node("node2", "follower", 4),
            ["node3"] = Node("node3", "follower", 4),
        });

        Assert.Null(topology.LeaderId);
    }

    [Fact]
    public void An_unreachable_leader_is_not_the_leader()
    {
        var topology = ClusterTopology.From(new Dictionary<string, NodeView>
        {
            ["node1"] = Node("node1", "leader", 5, healthy: false),
            ["node2"] = Node("node2", "follower", 5),
        });

        Assert.Null(topology.LeaderId);
    }

    [Fact]
    public void A_node_elected_in_the_highest_term_takes_writes_before_it_is_ready_but_not_reads()
    {
        var nodes = new Dictionary<string, NodeView>
        {
            ["node1"] = Node("node1", "leader", 3, leader: "node1"), // deposed, has not heard yet
            ["node2"] = Node("node2", "follower", 4, leader: "node2"), // elected in term 4, no-op not committed
            ["node3"] = Node("node3", "follower", 4, leader: "node2"),
        };
        var topology = ClusterTopology.From(nodes, writesToElected: true);

        Assert.Null(topology.LeaderId);
        Assert.Equal("node2", topology.ElectedLeaderId);
        Assert.Equal("node2", topology.WriteLeaderId);
        Assert.Null(ClusterTopology.From(nodes, writesToElected: false).WriteLeaderId);
    }

    [Fact]
    public void A_node_that_only_others_name_leader_is_not_elected()
    {
        // The follower's word is not enough: the node itself must say it won (it may be unreachable, or deposed).
        var topology = ClusterTopology.From(new Dictionary<string, NodeView>
        {
            ["node2"] = Node("node2", "follower", 4, healthy: false),
            ["node3"] = Node("node3", "follower", 4, leader: "node2"),
        });

        Assert.Null(topology.ElectedLeaderId);
    }

    [Fact]
    public void The_ready_leader_is_the_write_leader()
    {
        var nodes = new Dictionary<string, NodeView>
        {
            ["node2"] = Node("node2", "leader", 4, leader: "node2"),
            ["node3"] = Node("node3", "follower", 4, leader: "node2"),
        };

        Assert.Equal("node2", ClusterTopology.From(nodes, writesToElected: true).WriteLeaderId);
        Assert.Equal("node2", ClusterTopology.From(nodes, writesToElected: false).WriteLeaderId);
    }

    [Theory]
    [InlineData("node1", "node1")]
    [InlineData("node2[http://localhost:1234]", "node2")]
    public void Destination_ids_map_to_node_ids(string destinationId, string nodeId) =>
        Assert.Equal(nodeId, ClusterTopology.NodeIdOf(destinationId));
}

public sealed class LoadBalancingPolicyTests
{
    private sealed class FixedTopology(ClusterTopology topology) : ITopologySource
    {
        public ClusterTopology Current => topology;
    }

    private static readonly Yarp.ReverseProxy.Model.DestinationState[] Destinations = NewDestinations();

    private static Yarp.ReverseProxy.Model.DestinationState[] NewDestinations() =>
        new[] { "node1", "node2", "node3" }.Select(id => new Yarp.ReverseProxy.Model.DestinationState(id)).ToArray();

    private static ClusterTopology Topology(params NodeView[] nodes) => ClusterTopology.From(nodes.ToDictionary(n => n.NodeId));

    private static string? Pick(Yarp.ReverseProxy.LoadBalancing.ILoadBalancingPolicy policy) => PickFrom(policy, Destinations)?.DestinationId;

    private static Yarp.ReverseProxy.Model.DestinationState? PickFrom(Yarp.ReverseProxy.LoadBalancing.ILoadBalancingPolicy policy, Yarp.ReverseProxy.Model.DestinationState[] destinations) =>
        policy.PickDestination(new Microsoft.AspNetCore.Http.DefaultHttpContext(), new Yarp.ReverseProxy.Model.ClusterState("c"), destinations);

    [Fact]
    public void Leader_policy_picks_the_leader()
    {
        var policy = new AspireCache.Router.Routing.LeaderLoadBalancingPolicy(new FixedTopology(Topology(
            new NodeView("node1", true, "follower", 2, "node3", 0, 1),
            new NodeView("node3", true, "leader", 2, "node3", 0, 9))));

        Assert.Equal("node3", Pick(policy));
    }

    [Fact]
    public void Leader_policy_picks_nothing_without_a_leader()
    {
        var policy = new AspireCache.Router.Routing.LeaderLoadBalancingPolicy(new FixedTopology(Topology(
            new NodeView("node1", true, "follower", 2, null, 0, 1))));

        Assert.Null(Pick(policy));
    }

    [Theory]
    [InlineData(true, "node2")]
    [InlineData(false, null)]
    public void Leader_policy_sends_writes_to_a_newly_elected_leader_unless_told_to_wait_until_it_is_ready(bool toElected, string? expected)
    {
        var policy = new AspireCache.Router.Routing.LeaderLoadBalancingPolicy(new FixedTopology(ClusterTopology.From(
            new[] { new NodeView("node1", true, "follower", 5, null, 0, 1), new NodeView("node2", true, "follower", 5, "node2", 0, 1) }.ToDictionary(n => n.NodeId),
            writesToElected: toElected)));

        Assert.Equal(expected, Pick(policy));
    }

    [Fact]
    public void Nearest_policy_picks_the_healthy_node_with_the_lowest_latency()
    {
        var policy = new AspireCache.Router.Routing.NearestLoadBalancingPolicy(new FixedTopology(Topology(
            new NodeView("node1", false, "follower", 2, "node3", 0, 0.1),
            new NodeView("node2", true, "follower", 2, "node3", 0, 0.5),
            new NodeView("node3", true, "leader", 2, "node3", 0, 2))), Options());

        Assert.Equal("node2", Pick(policy));
    }

    [Fact]
    public void Nearest_policy_prefers_the_routers_zone_over_latency()
    {
        var policy = new AspireCache.Router.Routing.NearestLoadBalancingPolicy(new FixedTopology(Topology(
            new NodeView("node1", true, "follower", 2, "node3", 0, 0.1, Zone: "west"),
            new NodeView("node2", true, "follower", 2, "node3", 0, 3.0, Zone: "east"),
            new NodeView("node3", true, "leader", 2, "node3", 0, 2.0, Zone: "west"))), Options(zone: "east"));

        Assert.Equal("node2", Pick(policy));
    }

    [Fact]
    public void Nearest_policy_skips_a_node_that_lags_far_behind()
    {
        var policy = new AspireCache.Router.Routing.NearestLoadBalancingPolicy(new FixedTopology(Topology(
            new NodeView("node1", true, "follower", 2, "node3", 10, 0.1),
            new NodeView("node2", true, "follower", 2, "node3", 50_000, 3.0),
            new NodeView("node3", true, "leader", 2, "node3", 50_000, 2.0))), Options());

        Assert.Equal("node3", Pick(policy));
    }

    [Fact]
    public void Nearest_policy_spreads_reads_over_near_equal_nodes_by_requests_in_flight()
    {
        var policy = new AspireCache.Router.Routing.NearestLoadBalancingPolicy(new FixedTopology(Topology(
            new NodeView("node1", true, "follower", 2, "node3", 0, 1.0),
            new NodeView("node2", true, "follower", 2, "node3", 0, 1.4),
            new NodeView("node3", true, "leader", 2, "node3", 0, 1.2))), Options());
        var destinations = NewDestinations();
        var picks = new List<string>();
        for (var i = 0; i < 9; i++)
        {
            var picked = PickFrom(policy, destinations)!;
            picked.ConcurrentRequestCount++; // the read is now in flight there
            picks.Add(picked.DestinationId);
        }

        // Every near node took its share: three reads each, none piled onto the single fastest node.
        Assert.All(new[] { "node1", "node2", "node3" }, id => Assert.Equal(3, picks.Count(p => p == id)));
    }

    [Fact]
    public void Nearest_policy_keeps_reads_off_a_far_node_even_when_the_near_one_is_busier()
    {
        var policy = new AspireCache.Router.Routing.NearestLoadBalancingPolicy(new FixedTopology(Topology(
            new NodeView("node1", true, "follower", 2, "node3", 0, 0.5),
            new NodeView("node2", true, "follower", 2, "node3", 0, 40.0),
            new NodeView("node3", false, "leader", 2, "node3", 0, 0.4))), Options());
        var destinations = NewDestinations();
        destinations[0].ConcurrentRequestCount = 50;

        var picked = PickFrom(policy, destinations);

        Assert.Equal("node1", picked?.DestinationId);
    }

    [Theory]
    [InlineData("reads", "", "node3")]                   // a linearizable read: the leader
    [InlineData("reads", "?consistent=true", "node3")]
    [InlineData("reads", "?consistent=false", "node1")]  // a stale read: the nearest, least busy node
    [InlineData("watch", "", "node1")]                   // watch streams stay spread
    [InlineData("cluster-status", "", "node1")]
    public void Nearest_policy_sends_linearizable_reads_to_the_leader_and_spreads_the_rest(string route, string query, string expected)
    {
        var policy = new AspireCache.Router.Routing.NearestLoadBalancingPolicy(new FixedTopology(Topology(
            new NodeView("node1", true, "follower", 2, "node3", 0, 0.5),
            new NodeView("node2", true, "follower", 2, "node3", 0, 1.0),
            new NodeView("node3", true, "leader", 2, "node3", 0, 2.0))), Options());

        Assert.Equal(expected, policy.PickDestination(ReadContext(route, query), new Yarp.ReverseProxy.Model.ClusterState("c"), Destinations)?.DestinationId);
    }

    [Fact]
    public void Nearest_policy_keeps_linearizable_reads_in_the_routers_zone_when_the_leader_is_elsewhere()
    {
        var policy = new AspireCache.Router.Routing.NearestLoadBalancingPolicy(new FixedTopology(Topology(
            new NodeView("node1", true, "follower", 2, "node3", 0, 1.0, Zone: "east"),
            new NodeView("node2", true, "follower", 2, "node3", 0, 3.0, Zone: "west"),
            new NodeView("node3", true, "leader", 2, "node3", 0, 0.5, Zone: "west"))), Options(zone: "east"));

        Assert.Equal("node1", policy.PickDestination(ReadContext("reads", ""), new Yarp.ReverseProxy.Model.ClusterState("c"), Destinations)?.DestinationId);
    }

    [Fact]
    public void Nearest_policy_spreads_linearizable_reads_too_when_told_not_to_prefer_the_leader()
    {
        var policy = new AspireCache.Router.Routing.NearestLoadBalancingPolicy(new FixedTopology(Topology(
            new NodeView("node1", true, "follower", 2, "node3", 0, 0.5),
            new NodeView("node3", true, "leader", 2, "node3", 0, 2.0))), Microsoft.Extensions.Options.Options.Create(new AspireCache.Router.RouterOptions { LinearizableReadsToLeader = false }));

        Assert.Equal("node1", policy.PickDestination(ReadContext("reads", ""), new Yarp.ReverseProxy.Model.ClusterState("c"), Destinations)?.DestinationId);
    }

    private static Microsoft.AspNetCore.Http.DefaultHttpContext ReadContext(string route, string query)
    {
        var context = new Microsoft.AspNetCore.Http.DefaultHttpContext();
        context.Request.Path = "/cache/app/a";
        context.Request.QueryString = new Microsoft.AspNetCore.Http.QueryString(query.Length == 0 ? null : query);
        var cluster = new Yarp.ReverseProxy.Model.ClusterState("c");
        context.Features.Set<Yarp.ReverseProxy.Model.IReverseProxyFeature>(new Yarp.ReverseProxy.Model.ReverseProxyFeature
        {
            Route = new Yarp.ReverseProxy.Model.RouteModel(new Yarp.ReverseProxy.Configuration.RouteConfig { RouteId = route }, cluster, Yarp.ReverseProxy.Forwarder.HttpTransformer.Empty),
            Cluster = cluster.Model,
            AllDestinations = Destinations,
            AvailableDestinations = Destinations,
        });
        return context;
    }

    private static Microsoft.Extensions.Options.IOptions<AspireCache.Router.RouterOptions> Options(string? zone = null) =>
        Microsoft.Extensions.Options.Options.Create(new AspireCache.Router.RouterOptions { Zone = zone });
}
