namespace Aspire.Hosting;

/// <summary>
/// How <see cref="AspireCacheBuilderExtensions.AddAspireCache{TNode, TRouter}"/> lays out one cluster.
/// Resource names are fixed when the resources are added, so they are options here rather than
/// <c>With*</c> methods on the returned builder.
/// </summary>
public sealed class AspireCacheClusterOptions
{
    /// <summary>Number of Raft nodes when <see cref="NodeNames"/> is not set. Default 3.</summary>
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
    /// Run mode: fixed HTTP port per node (by position); 0 or missing picks a free loopback port at start.
    /// A node's port is its Raft address, so it never changes while the AppHost runs (a restarted node keeps it).
    /// </summary>
    public IReadOnlyList<int>? NodePorts { get; set; }

    /// <summary>Run mode: the router's (proxied) HTTP port. <see langword="null"/>: Aspire picks one.</summary>
    public int? RouterPort { get; set; }

    /// <summary>Run mode: where node data directories (<c>{DataRoot}/{node name}</c>) live. Default: <c>.data</c> beside the AppHost project.</summary>
    public string? DataRoot { get; set; }

    /// <summary>Entries between snapshots on every node (<c>Cluster__SnapshotInterval</c>). <see langword="null"/>: the node's default.</summary>
    public long? SnapshotInterval { get; set; }

    /// <summary>Lower Raft election timeout in ms (<c>Cluster__LowerElectionTimeoutMs</c>). <see langword="null"/>: the node's default.</summary>
    public int? LowerElectionTimeoutMs { get; set; }

    /// <summary>Upper Raft election timeout in ms (<c>Cluster__UpperElectionTimeoutMs</c>). <see langword="null"/>: the node's default.</summary>
    public int? UpperElectionTimeoutMs { get; set; }

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
