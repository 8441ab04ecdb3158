namespace AspireCache.Node.Raft.DotNextShims;

/// <summary>
/// DotNext 6.12's HTTP Raft wire format (DotNext.AspNetCore.Cluster): plain headers on
/// <c>POST /cluster-consensus/raft</c>. Read here only by the shims in front of DotNext's handler
/// and by the tests' fault injection; never sent by us.
/// </summary>
internal static class RaftWire
{
    public const string MessageTypeHeader = "X-Raft-Message-Type";
    public const string EntriesCountHeader = "X-Raft-Entries-Count";
    public const string PrecedingIndexHeader = "X-Raft-Preceding-Record-Index";
    public const string TermHeader = "X-Raft-Term";
    public const string SnapshotIndexHeader = "X-Raft-Snapshot-Index";
    public const string SnapshotTermHeader = "X-Raft-Snapshot-Term";
    public const string NodeIdHeader = "X-Raft-Node-ID";
    public const string StateVersionHeader = "X-Raft-State-Version";
    public const string RecordIndexHeader = "X-Raft-Record-Index";
    public const string RecordTermHeader = "X-Raft-Record-Term";

    public const string AppendEntries = "AppendEntries";
    public const string InstallSnapshot = "InstallSnapshot";
    public const string PreVote = "PreVote";
    public const string RequestVote = "RequestVote";

    /// <summary>DotNext's answers to AppendEntries and InstallSnapshot: the body is the <see cref="DotNext.Net.Cluster.Consensus.Raft.HeartbeatResult"/> member's name.</summary>
    public const string Replicated = nameof(DotNext.Net.Cluster.Consensus.Raft.HeartbeatResult.Replicated);

    /// <inheritdoc cref="Replicated"/>
    public const string ReplicatedWithLeaderTerm = nameof(DotNext.Net.Cluster.Consensus.Raft.HeartbeatResult.ReplicatedWithLeaderTerm);

    /// <summary>DotNext's answer to a granted pre-vote: the body is the <c>PreVoteResult</c> member's name.</summary>
    public const string PreVoteAccepted = "Accepted";

    /// <summary>DotNext's answer to a pre-vote a follower refuses.</summary>
    public const string PreVoteRefused = "RejectedByFollower";

    /// <summary>Whether <paramref name="request"/> is a Raft message of <paramref name="type"/>.</summary>
    public static bool Is(HttpRequest request, string type) =>
        HttpMethods.IsPost(request.Method) && request.Headers[MessageTypeHeader] is [var actual] && actual == type;

    public static bool TryParse(Microsoft.Extensions.Primitives.StringValues value, out long result) =>
        long.TryParse(value.Count == 1 ? value[0] : null, System.Globalization.NumberStyles.AllowLeadingSign, System.Globalization.CultureInfo.InvariantCulture, out result);

    /// <summary>Whether <paramref name="sender"/> (a <see cref="NodeIdHeader"/> value) is another member of <paramref name="cluster"/>.</summary>
    public static bool IsPeer(DotNext.Net.Cluster.Consensus.Raft.IRaftCluster cluster, string sender)
    {
        foreach (var member in cluster.Members)
        {
            if (member.IsRemote && member.Id.ToString() == sender)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Whether this node leads (DotNext names it leader, or its leadership token is live).</summary>
    public static bool LeadsLocally(DotNext.Net.Cluster.Consensus.Raft.IRaftCluster cluster) =>
        cluster.Leader is { IsRemote: false } || HoldsLeadership(cluster);

    /// <summary>
    /// DotNext's leadership token is live: this node leads and its term's first entry has committed.
    /// False once the cluster has stopped: DotNext 6.12's stopped ("zombie") state throws from
    /// <c>LeadershipToken</c>, and it raises <c>LeaderChanged</c> while it stops, so a reader there (the
    /// role in <see cref="ClusterView"/>'s leader-change handler) made the node's shutdown throw.
    /// </summary>
    public static bool HoldsLeadership(DotNext.Net.Cluster.Consensus.Raft.IRaftCluster cluster)
    {
        try
        {
            return !cluster.LeadershipToken.IsCancellationRequested;
        }
        catch (System.Diagnostics.UnreachableException)
        {
            return false;
        }
    }

    /// <summary>Whether an outgoing <paramref name="request"/> (DotNext's Raft client) is a message of <paramref name="type"/>, read without allocating.</summary>
    public static bool Is(HttpRequestMessage request, string type) =>
        request.Headers.NonValidated.TryGetValues(MessageTypeHeader, out var values) && values.Count == 1 && values.ToString() == type;
}
