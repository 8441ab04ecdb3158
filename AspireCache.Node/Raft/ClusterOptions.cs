using System.ComponentModel.DataAnnotations;

namespace AspireCache.Node.Raft;

/// <summary>Raft membership and tuning (section <c>Cluster</c>).</summary>
public sealed class ClusterOptions : IValidatableObject
{
    public const string SectionName = "Cluster";

    /// <summary>This node's id; must be one of <see cref="Members"/>' keys.</summary>
    [Required]
    public string NodeId { get; set; } = "";

    /// <summary>
    /// Every voting member: id → its peer URL (the endpoint that carries Raft and the node-to-node
    /// calls: read index, access reports). The same static list on every node; nodes never elect
    /// themselves alone (ColdStart is off).
    /// </summary>
    [MinLength(1)]
    public Dictionary<string, Uri> Members { get; set; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>
    /// Optional: id → the member's client-facing URL, what <c>/cluster/status</c>, <c>/cluster/watch</c>,
    /// <c>Leader-Url</c> and 421 answers give clients. A member without one is reached by clients at its
    /// <see cref="Members"/> URL (one endpoint for everything). When this node's client URL differs from
    /// its peer URL, the two endpoints are separated (<see cref="PeerEndpoint"/>): Raft and node-to-node
    /// calls only on the peer endpoint, the client API only elsewhere.
    /// </summary>
    public Dictionary<string, Uri> ClientUrls { get; set; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>
    /// The local port the peer endpoint listens on, when it is not the port of this node's
    /// <see cref="Members"/> URL (a container behind a port mapping). Setting it separates the endpoints.
    /// </summary>
    [Range(1, 65535)]
    public int? PeerPort { get; set; }

    /// <summary>Optional zone (e.g. availability zone) reported to routers, which prefer same-zone nodes for reads.</summary>
    public string? Zone { get; set; }

    /// <summary>Where the WAL and snapshots live. Defaults to <c>.data/{NodeId}</c> under the working directory.</summary>
    public string? DataDirectory { get; set; }

    /// <summary>
    /// A snapshot is taken every this many applied entries, so the WAL can be compacted. At most
    /// 200,000: DotNext keeps one open, mapped 4 KiB metadata page per ~64 entries of log.
    /// </summary>
    [Range(1, 200_000)]
    public long SnapshotInterval { get; set; } = 10_000;

    /// <summary>
    /// A snapshot is also taken once this many bytes of entries were applied since the last one,
    /// so the WAL stays bounded in bytes as well as entries, whatever the value sizes.
    /// </summary>
    [Range(64 * 1024, long.MaxValue)]
    public long SnapshotLogBytes { get; set; } = 128L * 1024 * 1024;

    /// <summary>
    /// Size of one WAL data page. DotNext keeps every page file open and memory-mapped; its default
    /// (the 4 KiB OS page) meant one file descriptor per 4 KiB of log, which ran a node out of
    /// descriptors with ~80 MB of log. Fixed when a WAL is created (<see cref="WalLayout"/>).
    /// </summary>
    [Range(64 * 1024, 256 * 1024 * 1024)]
    public int WalPageBytes { get; set; } = 4 * 1024 * 1024;

    /// <summary>
    /// How DotNext's WAL holds its pages between writes and flushes. <c>SharedMemory</c> (DotNext's
    /// default) maps every page file and flushes with <c>msync</c>; <c>PrivateMemory</c> keeps the pages
    /// in process memory and flushes the written range with a write-through <c>pwrite</c>. The on-disk
    /// files are the same either way, so a node can be restarted with the other setting. Private memory
    /// took ~20% off the nodes' CPU per write on the bench cluster (+11–20% writes through the router) and
    /// kept up to ~130 MB more resident per node (the live log, and released pages DotNext pools), so
    /// the default stays DotNext's (bench/README.md, session 22).
    /// </summary>
    public DotNext.Net.Cluster.Consensus.Raft.StateMachine.WriteAheadLog.MemoryManagementStrategy WalMemory { get; set; }

    /// <summary>
    /// Election timeout bounds. 50 ms: a live leader's veto and the lower-timeout rule for pre-votes and
    /// votes keep CPU saturation on 2 cores from causing elections (0 in 5-minute loaded runs at 100, 75
    /// and 50 ms, although the followers' longest silences were 229–377 ms), so the timeouts only decide
    /// how soon a dead leader is replaced (bench/README.md, sessions 11, 14 and 16).
    /// </summary>
    [Range(50, 60_000)]
    public int LowerElectionTimeoutMs { get; set; } = 50;

    /// <summary>
    /// A follower's timer runs out at a random point between the two bounds. A 50 ms spread suffices
    /// since the pre-vote tie-break and the vote rule keep simultaneous timeouts from splitting the vote
    /// (session 10). 100–150 ms replaced 150–200 in session 11: the failover median fell by 40–70 ms in two
    /// interleaved sets, with 0 elections in a 5-minute loaded run; 75–125 replaced 100–150 in session 14:
    /// lower in each of 6 interleaved pairs, median 358 → 326 ms, again 0 elections; 50–100 replaced 75–125
    /// in session 16: new leader sooner by a median 24–46 ms in two interleaved sets of 6 kills, again 0
    /// elections (bench/README.md).
    /// </summary>
    [Range(50, 60_000)]
    public int UpperElectionTimeoutMs { get; set; } = 100;

    /// <summary>
    /// The leader's heartbeat period as a fraction of <see cref="LowerElectionTimeoutMs"/> (DotNext's
    /// <c>HeartbeatThreshold</c>). A follower starts an election only after a whole election timeout
    /// without any AppendEntries, so at 0.25 it takes four late heartbeats in a row, not two (DotNext's 0.5).
    /// </summary>
    [Range(0.05, 0.9)]
    public double HeartbeatThreshold { get; set; } = 0.5;

    /// <summary>
    /// How long a just-elected leader may take to commit its term's first entry: the bound on the
    /// <see cref="LeadershipSettler"/>'s forced rounds. A leader that cannot reach a quorum steps down
    /// within <see cref="RaftRpcTimeoutMs"/>, so it is ready or gone by then. (Until session 15 it also
    /// bounded a write's wait for the new leader to be ready; writes are now proposed from the election on,
    /// see <see cref="ClusterView.LeadsLocally"/>.)
    /// </summary>
    public TimeSpan LeaderReadyBound => TimeSpan.FromMilliseconds(Math.Max(UpperElectionTimeoutMs, RaftRpcTimeoutMs));

    /// <summary>
    /// How long a candidate's vote request may go unanswered before it counts as a "no" (four fifths of the
    /// lower election timeout): shorter than any voting timeout, so a member that hangs instead of refusing
    /// (paused, frozen, unreachable without a reset) cannot make every election run out of time. See
    /// <see cref="DotNextShims.VoteDeadlineHandler"/>.
    /// </summary>
    public TimeSpan VoteDeadline => TimeSpan.FromMilliseconds(LowerElectionTimeoutMs * 0.8);

    /// <summary>
    /// How long the leader waits for a follower's answer to one Raft message (DotNext's <c>RpcTimeout</c>,
    /// also the Raft HttpClient's request timeout). DotNext's default is half the upper election timeout:
    /// an AppendEntries whose entries a loaded follower takes longer to make durable then counts as
    /// "unavailable", and a round in which both followers time out makes the leader step down, which
    /// was the cause of the elections under load at short election timeouts. Failure detection does not
    /// depend on it: a follower that is gone refuses the connection at once, and followers elect a new
    /// leader on their own election timeout.
    /// </summary>
    [Range(50, 60_000)]
    public int RaftRpcTimeoutMs { get; set; } = 1000;

    /// <summary>A live leader refuses pre-votes (DotNext's <c>AggressiveLeaderStickiness</c>): a follower that merely missed heartbeats cannot start an election while the leader still reaches a quorum.</summary>
    public bool LeaderStickiness { get; set; } = true;

    /// <summary>
    /// A follower grants a pre-vote once it has not heard from a leader for the <em>lower</em> election
    /// timeout (etcd's rule), not its own randomised one (DotNext's), so the first follower whose timer
    /// runs out after the leader dies can win the election at once. Safety is unchanged (a pre-vote
    /// changes no state; the vote itself is DotNext's) and a live leader still refuses pre-votes
    /// (<see cref="LeaderStickiness"/>). See <see cref="DotNextShims.PreVoteMiddleware"/>.
    /// </summary>
    public bool FastPreVote { get; set; } = true;

    /// <summary>
    /// How long the leader gives one request that brings a follower back: an InstallSnapshot (the whole
    /// state, ~150 MB for 500,000 keys of 256 B, and its install) or an AppendEntries of more than two
    /// <see cref="MaxEntryBytes"/> of missing entries. Not the Raft RPC timeout, which no transfer of that
    /// size meets (see <see cref="DotNextShims.CatchUpTransferHandler"/>). Also, up to 30 s, the longest the
    /// leader holds a snapshot back while followers are being brought back (<see cref="StateMachine.SnapshotHold"/>).
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:01", "01:00:00")]
    public TimeSpan CatchUpTransferTimeout { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>
    /// After each snapshot it publishes, the leader appends one empty entry so that DotNext's WAL compacts at
    /// once rather than at the next client write, which could fall in the middle of a catch-up and wait
    /// for it (see <see cref="CompactionNudge"/>). Off: one entry fewer per snapshot.
    /// </summary>
    public bool CompactAfterSnapshot { get; set; } = true;

    /// <summary>How long a write waits for commit before the caller gets 503.</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "00:10:00")]
    public TimeSpan WriteTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How long a linearizable read waits for a confirmed read index (including waiting for a leader).</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "00:10:00")]
    public TimeSpan ReadIndexTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Linearizable reads that may wait at once on this node (for a read index or for apply); beyond, 503 overloaded.</summary>
    [Range(1, 10_000_000)]
    public int MaxReadWaiters { get; set; } = 10_000;

    /// <summary>Writes that may wait for the proposer; beyond this the leader answers 503 (back-pressure).</summary>
    [Range(1, 1_000_000)]
    public int MaxPendingWrites { get; set; } = 10_000;

    /// <summary>Most client commands coalesced into one log entry (group commit).</summary>
    [Range(1, 100_000)]
    public int MaxCommandsPerEntry { get; set; } = 512;

    /// <summary>Approximate byte bound of one log entry; a single larger command still goes alone.</summary>
    [Range(1024, 256 * 1024 * 1024)]
    public long MaxEntryBytes { get; set; } = 8L * 1024 * 1024;

    /// <summary>Health turns Degraded when more than this many committed entries are not yet applied here.</summary>
    [Range(1, long.MaxValue)]
    public long DegradedApplyLag { get; set; } = 10_000;

    /// <summary>How often the leader looks for expired keys to remove through the log.</summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "00:10:00")]
    public TimeSpan ExpiryScanInterval { get; set; } = TimeSpan.FromMilliseconds(250);

    /// <summary>
    /// How long a starting node waits for its data directory while another process holds it (a
    /// previous instance still stopping) before it refuses to start.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00", "00:10:00")]
    public TimeSpan DataDirectoryLockWait { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Diagnostics: every applied entry's index, term and payload hash is appended to
    /// <c>{data}/apply-trace.log</c>, so replicas can be compared entry by entry (verify scripts).
    /// </summary>
    public bool ApplyTrace { get; set; }

    /// <summary>
    /// Every <c>Idempotency-Key</c>'s result is remembered at least this long in log time (leader
    /// timestamps), within <see cref="IdempotencyMaxBytes"/>. Must be the same on every node: it decides
    /// which keys the replicated state forgets. See <see cref="StateMachine.IdempotencyLimits.DefaultWindow"/>.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:01", "1.00:00:00")]
    public TimeSpan IdempotencyWindow { get; set; } = StateMachine.IdempotencyLimits.DefaultWindow;

    /// <summary>
    /// Memory bound of the idempotency records (accounted bytes, ~144 + 2 per key character each);
    /// past it the oldest are forgotten first, even inside <see cref="IdempotencyWindow"/>. The same on every node.
    /// </summary>
    [Range(1024 * 1024, long.MaxValue)]
    public long IdempotencyMaxBytes { get; set; } = StateMachine.IdempotencyLimits.DefaultMaxBytes;

    /// <summary>
    /// The log entry format this node writes as leader: 2 (default; checksummed, see
    /// <see cref="StateMachine.CommandCodec"/>) or 1. A rolling upgrade from a version that only reads
    /// format 1 sets 1 on every node until all run the new version, then removes the setting (a node
    /// that cannot read an entry stops applying; an old one skipped it).
    /// </summary>
    [Range(1, 2)]
    public byte LogFormatVersion { get; set; } = StateMachine.CommandCodec.FormatVersion;

    /// <summary>Retry-After seconds sent with 503 answers.</summary>
    [Range(1, 60)]
    public int RetryAfterSeconds { get; set; } = 1;

    public string ResolveDataDirectory() =>
        Path.GetFullPath(string.IsNullOrWhiteSpace(DataDirectory) ? Path.Combine(".data", NodeId) : DataDirectory);

    /// <summary>This node's peer URL (its Raft address).</summary>
    public Uri SelfUrl => Members[NodeId];

    /// <summary>The URL clients reach member <paramref name="id"/> at.</summary>
    public Uri ClientUrlOf(string id) => ClientUrls.TryGetValue(id, out var url) ? url : Members[id];

    /// <summary>
    /// The local port of the separate peer endpoint, or null when Raft and clients share one endpoint
    /// (no <see cref="ClientUrls"/> entry of its own, or the same port).
    /// </summary>
    public int? ResolvePeerPort() =>
        PeerPort ?? (ClientUrls.TryGetValue(NodeId, out var client) && client.Port != SelfUrl.Port ? SelfUrl.Port : null);

    /// <summary>The idempotency table's limits from <see cref="IdempotencyWindow"/> and <see cref="IdempotencyMaxBytes"/>.</summary>
    public StateMachine.IdempotencyLimits ResolveIdempotencyLimits() => new(IdempotencyWindow, IdempotencyMaxBytes);

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (!Members.ContainsKey(NodeId))
        {
            yield return new ValidationResult($"Cluster:NodeId '{NodeId}' is not one of Cluster:Members ({string.Join(", ", Members.Keys)}).");
        }

        foreach (var id in ClientUrls.Keys.Where(id => !Members.ContainsKey(id)))
        {
            yield return new ValidationResult($"Cluster:ClientUrls names '{id}', which is not one of Cluster:Members.");
        }

        if (!int.IsPow2(WalPageBytes))
        {
            yield return new ValidationResult("Cluster:WalPageBytes must be a power of two (DotNext addresses pages with shifts and masks).");
        }

        if (LowerElectionTimeoutMs >= UpperElectionTimeoutMs)
        {
            yield return new ValidationResult("Cluster:LowerElectionTimeoutMs must be below Cluster:UpperElectionTimeoutMs.");
        }
    }
}
