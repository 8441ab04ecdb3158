using System.Collections.Frozen;

namespace AspireCache.Router.Topology;

/// <summary>What the router last observed of one node.</summary>
/// <param name="NodeId">The node's id (its service name).</param>
/// <param name="Healthy">The last probe answered in time.</param>
/// <param name="Role">leader, follower, candidate, or unknown.</param>
/// <param name="Term">The node's current term.</param>
/// <param name="LeaderId">Whom the node believes to be leader.</param>
/// <param name="AppliedIndex">The node's applied index.</param>
/// <param name="LatencyMs">Smoothed (EWMA) probe round-trip time.</param>
/// <param name="Zone">The node's zone, if it reports one.</param>
public sealed record NodeView(string NodeId, bool Healthy, string Role, long Term, string? LeaderId, long AppliedIndex, double LatencyMs, string? Zone = null);

/// <summary>
/// An immutable snapshot of the cluster as the router sees it. Load-balancing policies read
/// one snapshot per request; the monitor swaps in a new one after each poll.
/// </summary>
public sealed class ClusterTopology
{
    public static readonly ClusterTopology Empty = new(FrozenDictionary<string, NodeView>.Empty, null, 0);

    public ClusterTopology(IReadOnlyDictionary<string, NodeView> nodes, string? leaderId, long term, string? electedLeaderId = null, bool writesToElected = true)
    {
        Nodes = nodes.ToFrozenDictionary(StringComparer.OrdinalIgnoreCase);
        LeaderId = leaderId;
        Term = term;
        ElectedLeaderId = leaderId ?? electedLeaderId;
        WriteLeaderId = writesToElected ? ElectedLeaderId : leaderId;
    }

    public FrozenDictionary<string, NodeView> Nodes { get; }

    /// <summary>The leader of the highest term any healthy node reports, as reported by that leader itself.</summary>
    public string? LeaderId { get; }

    public long Term { get; }

    /// <summary>
    /// Where writes go: <see cref="LeaderId"/>, or else the node that won the highest term's election and
    /// names itself leader but is not ready yet (its term's first entry not committed). Such a node proposes
    /// the writes it gets at once, after that entry, and they commit with it; sent at the election instead of
    /// at "ready", they save the router's hop and a replication round. Reads still wait for
    /// <see cref="LeaderId"/> (a read index must be a committed index of the leader's term).
    /// </summary>
    public string? ElectedLeaderId { get; }

    /// <summary>Where writes go: <see cref="ElectedLeaderId"/>, or <see cref="LeaderId"/> when the router waits for "ready" (<see cref="RouterOptions.WritesToElectedLeader"/> off).</summary>
    public string? WriteLeaderId { get; }

    /// <summary>
    /// Derives the leader from per-node views: trust a node that says it is the leader only if no
    /// healthy node reports a higher term (a deposed leader may still believe it leads).
    /// <paramref name="writesToElected"/>: <see cref="RouterOptions.WritesToElectedLeader"/>.
    /// </summary>
    public static ClusterTopology From(IReadOnlyDictionary<string, NodeView> nodes, bool writesToElected = true)
    {
        var healthy = nodes.Values.Where(n => n.Healthy).ToList();
        var term = healthy.Count == 0 ? 0 : healthy.Max(n => n.Term);
        var leader = healthy.FirstOrDefault(n => n.Term == term && n.Role == "leader")?.NodeId;
        var elected = healthy.FirstOrDefault(n => n.Term == term && string.Equals(n.LeaderId, n.NodeId, StringComparison.OrdinalIgnoreCase))?.NodeId;
        return new ClusterTopology(nodes, leader, term, elected, writesToElected);
    }

    /// <summary>Maps a YARP destination id (the node id, or <c>node1[...]</c> after service discovery expansion) to a node id.</summary>
    public static string NodeIdOf(string destinationId) =>
        NodeIds.GetOrAdd(destinationId, static id => id.IndexOf('[', StringComparison.Ordinal) is var bracket and >= 0 ? id[..bracket] : id);

    // A handful of destination ids for the process lifetime: cut each one once, not on every request.
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, string> NodeIds = new(StringComparer.Ordinal);
}

/// <summary>Where load-balancing policies read the current topology snapshot from.</summary>
internal interface ITopologySource
{
    ClusterTopology Current { get; }
}
