namespace AspireCache.Node.StateMachine;

/// <summary>
/// What the state machine needs to know, and nothing of Raft: where its snapshots and apply trace
/// go, and when to snapshot. Filled from the <c>Cluster</c> section by the node's wiring.
/// </summary>
public sealed class StateMachineOptions
{
    /// <summary>The node's data directory (snapshots go to <c>{DataDirectory}/snapshots</c>).</summary>
    public string DataDirectory { get; set; } = "";

    /// <summary>A snapshot every this many applied entries.</summary>
    public long SnapshotInterval { get; set; } = 10_000;

    /// <summary>A snapshot once this many bytes of entries were applied since the last one.</summary>
    public long SnapshotLogBytes { get; set; } = long.MaxValue;

    /// <summary>
    /// How long a snapshot may be held back while the leader brings a follower back (<see cref="SnapshotHold"/>);
    /// past it the snapshot is published anyway (and so is every later one while catch-ups go on without a break), so the log stays bounded.
    /// </summary>
    public TimeSpan SnapshotHoldLimit { get; set; } = LongestSnapshotHold;

    /// <summary>The node's hold limit: 30 s, or the catch-up timeout if shorter (a 306 MB snapshot took ~6 s to send here).</summary>
    public static readonly TimeSpan LongestSnapshotHold = TimeSpan.FromSeconds(30);

    /// <summary>Append every applied entry's index, term, hash and revision to <c>{DataDirectory}/apply-trace.log</c>.</summary>
    public bool ApplyTrace { get; set; }

    /// <summary>How long and how much the idempotency table keeps (the same on every node: it is replicated state).</summary>
    public IdempotencyLimits Idempotency { get; set; } = IdempotencyLimits.Default;
}
