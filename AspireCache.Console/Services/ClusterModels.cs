using AspireCache.Contracts;

namespace AspireCache.Console.Services;

/// <summary>A key as the detail page shows it: <see cref="Client.CacheItem"/> plus what only the HTTP answer carries.</summary>
/// <param name="Key">The key.</param>
/// <param name="Value">Its bytes.</param>
/// <param name="Version">Its version (the revision of its last write).</param>
/// <param name="ExpiresAt">When its TTL runs out, if it has one (on the console's clock, never later than the node's).</param>
/// <param name="LastModified">When it was last written (the node's <c>Last-Modified</c>, second precision).</param>
/// <param name="Revision">The cluster revision the read was taken at.</param>
/// <param name="Node">The node that answered.</param>
public sealed record KeyDetails(string Key, ReadOnlyMemory<byte> Value, long Version, DateTimeOffset? ExpiresAt, DateTimeOffset? LastModified, long? Revision, string? Node);

/// <summary>Where a node's watch history starts: it replays the changes after <see cref="OldestRevision"/>.</summary>
/// <param name="OldestRevision">The oldest <c>afterRevision</c> the node accepts (0: it has every change since the cluster began).</param>
/// <param name="CurrentRevision">The node's newest revision, when it said.</param>
/// <param name="Node">The node that answered.</param>
public sealed record HistoryStart(long OldestRevision, long? CurrentRevision, string? Node);

/// <summary>The router's view of one node (<c>GET /router/topology</c>).</summary>
public sealed record RouterNodeView(string NodeId, bool Healthy, string Role, long Term, string? LeaderId, long AppliedIndex, double LatencyMs, string? Zone);

/// <summary><c>GET /router/topology</c>.</summary>
public sealed record RouterTopology(string? LeaderId, long Term, IReadOnlyList<RouterNodeView> Nodes);

/// <summary>What the console could learn of one member.</summary>
/// <param name="Id">The member's id.</param>
/// <param name="Url">Its client URL (from <c>/cluster/status</c>).</param>
/// <param name="Status">Its own <c>/cluster/status</c>, when the console could reach it.</param>
/// <param name="HotKeys">Its hottest keys, when the console could reach it.</param>
/// <param name="Router">What the router sees of it, if the router said.</param>
/// <param name="Error">Why it could not be asked directly.</param>
public sealed record NodeReport(string Id, Uri Url, ClusterStatusResponse? Status, HotKeysResponse? HotKeys, RouterNodeView? Router, string? Error);

/// <summary>Everything the cluster view shows, read at <see cref="ReadAt"/>.</summary>
public sealed record ClusterReport(ClusterStatusResponse? Entry, RouterTopology? Topology, IReadOnlyList<NodeReport> Nodes, DateTimeOffset ReadAt, string? Error)
{
    /// <summary>The leader as the nodes report it (the router's view first).</summary>
    public string? LeaderId => Topology?.LeaderId ?? Entry?.LeaderId;
}

/// <summary>How the cluster answered a credential at sign-in.</summary>
public enum CredentialCheck
{
    /// <summary>Accepted with the read scope (<c>/cluster/status</c> answered 200).</summary>
    Accepted,

    /// <summary>401: the cluster does not know this key.</summary>
    Unknown,

    /// <summary>403: a known key without the read scope (the console needs it to show anything).</summary>
    NoReadScope,

    /// <summary>No answer, or 5xx: nothing can be said about the key now.</summary>
    Unavailable,
}
