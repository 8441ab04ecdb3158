using Aspire.Hosting.ApplicationModel;

namespace Aspire.Hosting;

/// <summary>
/// How <see cref="AspireCacheBuilderExtensions.AddAspireCache{TNode, TRouter}"/> lays out one cluster.
/// Resource names are fixed when the resources are added, so they are options here rather than
/// <c>With*</c> methods on the returned builder.
/// </summary>
public sealed class AspireCacheClusterOptions
{
    /// <summary>
    /// Number of Raft nodes when <see cref="NodeNames"/> is not set. Default 3, which survives one failure;
    /// 5 survives two. An odd count: an even one survives no more failures than the odd count below it.
    /// </summary>
    public int NodeCount { get; set; } = 3;

    /// <summary>
    /// The node resources' names (also each node's Raft id and its service-discovery name).
    /// Default: <c>{name}-node1</c> … <c>{name}-node{NodeCount}</c>, so that two clusters fit in one AppHost.
    /// When set, its length is the number of nodes.
    /// </summary>
    public IReadOnlyList<string>? NodeNames { get; set; }

    /// <summary>The router resource's name. Default: <c>{name}-router</c>.</summary>
    public string? RouterName { get; set; }

    /// <summary>
    /// Run mode: fixed port of each node's client endpoint <c>http</c> (by position); 0 or missing picks a
    /// free loopback port at start. It is the URL the cluster reports to clients (<c>Cluster__ClientUrls</c>),
    /// so it never changes while the AppHost runs (a restarted node keeps it).
    /// </summary>
    public IReadOnlyList<int>? NodePorts { get; set; }

    /// <summary>
    /// Run mode: fixed port of each node's <c>cluster</c> endpoint (by position), which carries the Raft RPCs
    /// and the node-to-node calls (<c>Cluster__Members</c>); 0 or missing picks a free loopback port at start.
    /// It is the node's Raft address, so it never changes while the AppHost runs. (Publish mode: target port 8082, not external.)
    /// </summary>
    public IReadOnlyList<int>? ClusterPorts { get; set; }

    /// <summary>Run mode: the router's HTTP port, served by the router itself (not proxied by DCP). <see langword="null"/>: a free loopback port.</summary>
    public int? RouterPort { get; set; }

    /// <summary>Run mode: where node data directories (<c>{DataRoot}/{node name}</c>) live. Default: <c>.data</c> beside the AppHost project.</summary>
    public string? DataRoot { get; set; }

    /// <summary>Entries between snapshots on every node (<c>Cluster__SnapshotInterval</c>). <see langword="null"/>: the node's default.</summary>
    public long? SnapshotInterval { get; set; }

    /// <summary>Lower Raft election timeout in ms (<c>Cluster__LowerElectionTimeoutMs</c>). <see langword="null"/>: the node's default.</summary>
    public int? LowerElectionTimeoutMs { get; set; }

    /// <summary>Upper Raft election timeout in ms (<c>Cluster__UpperElectionTimeoutMs</c>). <see langword="null"/>: the node's default.</summary>
    public int? UpperElectionTimeoutMs { get; set; }

    /// <summary>
    /// Run the nodes' and the router's socket completions, and Kestrel's request handling, on the runtime's
    /// socket engine threads (on Linux its epoll threads, one per core then) instead of handing each to the
    /// thread pool: <c>DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS=1</c> in their environment, which the servers
    /// also read to turn on Kestrel's <c>UnsafePreferInlineScheduling</c>. <see langword="null"/>: on.
    /// </summary>
    public bool? InlineSocketCompletions { get; set; }

    /// <summary>
    /// Client authentication on the nodes (default <see langword="true"/>): every request but
    /// <c>/health</c> and <c>/alive</c> needs <c>Authorization: Bearer &lt;key&gt;</c>. The cluster's key is
    /// the secret parameter <see cref="Key"/> (default: <c>{name}-key</c>, generated and kept in the
    /// AppHost's user secrets in run mode); it has the <c>admin</c> scope and is the <c>Key=</c> of the
    /// connection string (what a plain <c>.WithReference(cache)</c> gives). The router gets its own
    /// read-only key (<c>{name}-router-key</c>) for its status polls, and a service referenced with
    /// <c>.WithReference(cache, access, prefixes)</c> gets its own (<c>{service}-{name}-key</c>).
    /// <see langword="false"/>: nodes accept every request (as before issue #13).
    /// </summary>
    public bool EnableAuthentication { get; set; } = true;

    /// <summary>
    /// The cluster's admin key (a secret parameter); <see langword="null"/>: <c>{name}-key</c>, generated
    /// (32 alphanumeric characters) unless <c>Parameters:{name}-key</c> is configured.
    /// </summary>
    public IResourceBuilder<ParameterResource>? Key { get; set; }

    /// <summary>
    /// Rotation: a second admin key that stays valid while clients move to <see cref="Key"/>
    /// (both are accepted, both record writes as <c>admin</c>); remove it once every client has the new key.
    /// </summary>
    public IResourceBuilder<ParameterResource>? PreviousKey { get; set; }

    /// <summary>
    /// Node-to-node authentication (default <see langword="true"/>): every Raft RPC and every call to
    /// <c>/cluster/read-index</c> and <c>/cluster/access</c> is signed (HMAC-SHA256 over its headers, a
    /// nonce and a time) with the secret parameter <see cref="ClusterSecret"/> (default:
    /// <c>{name}-cluster-secret</c>, generated and kept in the AppHost's user secrets in run mode),
    /// passed to every node as <c>Cluster__Secret</c>. <see langword="false"/>: nodes accept unsigned Raft
    /// traffic (anyone who reaches a node's port can depose its leader).
    /// </summary>
    public bool EnableClusterAuthentication { get; set; } = true;

    /// <summary>The cluster secret (a secret parameter); <see langword="null"/>: <c>{name}-cluster-secret</c>, generated unless configured.</summary>
    public IResourceBuilder<ParameterResource>? ClusterSecret { get; set; }

    /// <summary>
    /// Rotation: the previous cluster secret, still accepted (never used to sign) while nodes restart
    /// one at a time with <see cref="ClusterSecret"/>; remove it once every node has the new one.
    /// </summary>
    public IResourceBuilder<ParameterResource>? PreviousClusterSecret { get; set; }

    internal string[] ResolveNodeNames(string name)
    {
        if (NodeNames is { } names)
        {
            if (names.Count == 0)
            {
                throw new ArgumentException("NodeNames must name at least one node.", nameof(NodeNames));
            }

            if (names.Distinct(StringComparer.OrdinalIgnoreCase).Count() != names.Count)
            {
                throw new ArgumentException($"NodeNames must be distinct: {string.Join(", ", names)}.", nameof(NodeNames));
            }

            return [.. names];
        }

        ArgumentOutOfRangeException.ThrowIfLessThan(NodeCount, 1, nameof(NodeCount));
        return [.. Enumerable.Range(1, NodeCount).Select(i => $"{name}-node{i}")];
    }
}
