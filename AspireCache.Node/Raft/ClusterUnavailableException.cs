namespace AspireCache.Node.Raft;

/// <summary>Why the cluster could not serve a request right now. Each maps to one HTTP answer.</summary>
public enum UnavailableReason
{
    /// <summary>This node is not the leader; <see cref="ClusterUnavailableException.Leader"/> says who is (421).</summary>
    NotLeader,

    /// <summary>Leadership moved while a write was replicating: its outcome is unknown; retry at the new leader with the same Idempotency-Key (421).</summary>
    LeadershipLost,

    /// <summary>No leader is known: an election is under way or the quorum is lost (503).</summary>
    NoLeader,

    /// <summary>The operation did not complete in time; a write's outcome is unknown (503).</summary>
    Timeout,

    /// <summary>Too much work is queued; nothing was done (503).</summary>
    Overloaded,
}

/// <summary>
/// Thrown by the write and read paths when the cluster cannot serve the request. Nothing was
/// changed by the request, except on <see cref="UnavailableReason.Timeout"/> of a write, whose
/// outcome is unknown (it may still commit).
/// </summary>
public sealed class ClusterUnavailableException(UnavailableReason reason, string detail, LeaderInfo leader = default)
    : Exception(detail)
{
    public UnavailableReason Reason { get; } = reason;

    public LeaderInfo Leader { get; } = leader;
}
