using Yarp.ReverseProxy.Configuration;

namespace AspireCache.Router.Routing;

/// <summary>
/// The routing table: writes (PUT/POST/DELETE) to the <c>leader</c> cluster, reads (GET/HEAD)
/// to the <c>nearest</c> cluster. Both clusters hold every node; the policies choose.
/// </summary>
internal static class ProxyRoutes
{
    public const string WritesRoute = "writes";
    public const string ReadsRoute = "reads";
    public const string StatusRoute = "cluster-status";
    public const string WatchRoute = "watch";
    public const string WatchProgressRoute = "watch-progress";
    public const string ReadBatchRoute = "read-batch";
    public const string WriteBatchRoute = "write-batch";

    public static IReadOnlyList<RouteConfig> Routes { get; } =
    [
        new RouteConfig
        {
            RouteId = WritesRoute,
            ClusterId = "leader",
            Match = new RouteMatch { Path = "/cache/{**key}", Methods = ["PUT", "POST", "DELETE"] },
        },
        new RouteConfig
        {
            RouteId = ReadsRoute,
            ClusterId = "nearest",
            Match = new RouteMatch { Path = "/cache/{**key}", Methods = ["GET", "HEAD"] },
        },
        // Watch streams: the nearest node, never buffered, idle for as long as a stream's progress
        // interval may be (a node sends progress or a keep-alive comment at least that often).
        new RouteConfig
        {
            RouteId = WatchRoute,
            ClusterId = "watch",
            Match = new RouteMatch { Path = "/cache/watch", Methods = ["GET"] },
        },

        // On-demand progress goes to the node that serves the stream (its id names the node).
        new RouteConfig
        {
            RouteId = WatchProgressRoute,
            ClusterId = "stream-owner",
            Match = new RouteMatch { Path = "/cache/watch/{streamId}/progress", Methods = ["POST"] },
        },
        // A client's own coalesced reads (AspireCache.Client): to the node a GET of theirs would go to,
        // in one attempt (the client sends each read on as its own GET if the batch fails).
        new RouteConfig
        {
            RouteId = ReadBatchRoute,
            ClusterId = "nearest",
            Match = new RouteMatch { Path = Contracts.ReadBatchWire.Path, Methods = ["POST"] },
        },
        // A client's own coalesced writes (AspireCache.Client): to the leader, in one attempt (the client
        // sends each write on as its own request, with the same Idempotency-Key, if the batch fails).
        new RouteConfig
        {
            RouteId = WriteBatchRoute,
            ClusterId = "leader",
            Match = new RouteMatch { Path = Contracts.WriteBatchWire.Path, Methods = ["POST"] },
        },
        new RouteConfig
        {
            RouteId = StatusRoute,
            ClusterId = "nearest",
            Match = new RouteMatch { Path = "/cluster/status", Methods = ["GET"] },
        },
    ];

    public static IReadOnlyList<ClusterConfig> Clusters(IEnumerable<string> nodes, bool http2Streams = false, string scheme = "http")
    {
        nodes = nodes.ToArray();
        var destinations = nodes.ToDictionary(
            node => node,
            node => new DestinationConfig { Address = $"{scheme}://{node}" },
            StringComparer.OrdinalIgnoreCase);

        return
        [
            new ClusterConfig { ClusterId = "leader", LoadBalancingPolicy = LeaderLoadBalancingPolicy.PolicyName, Destinations = destinations },
            new ClusterConfig { ClusterId = "nearest", LoadBalancingPolicy = NearestLoadBalancingPolicy.PolicyName, Destinations = destinations },
            new ClusterConfig
            {
                ClusterId = "watch",
                LoadBalancingPolicy = NearestLoadBalancingPolicy.PolicyName,
                Destinations = http2Streams
                    ? nodes.ToDictionary(node => node, node => new DestinationConfig { Address = $"{scheme}://_h2.{node}" }, StringComparer.OrdinalIgnoreCase)
                    : destinations,
                HttpRequest = new Yarp.ReverseProxy.Forwarder.ForwarderRequestConfig
                {
                    ActivityTimeout = TimeSpan.FromMinutes(65),

                    // Cleartext HTTP/2 with prior knowledge: streams share connections.
                    Version = http2Streams ? System.Net.HttpVersion.Version20 : null,
                    VersionPolicy = http2Streams ? System.Net.Http.HttpVersionPolicy.RequestVersionExact : null,
                },
            },
            new ClusterConfig { ClusterId = "stream-owner", LoadBalancingPolicy = StreamOwnerLoadBalancingPolicy.PolicyName, Destinations = destinations },
        ];
    }
}
