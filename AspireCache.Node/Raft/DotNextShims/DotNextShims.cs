namespace AspireCache.Node.Raft.DotNextShims;

/// <summary>
/// One home for what this project does about DotNext 6.12's defects. Each was found here, fixed at
/// our layer, and re-checked against 6.12.1 and 6.12.2 (their decompiled code fixes none of them):
/// <list type="number">
/// <item><see cref="StaleAppendGuardMiddleware"/>: a late AppendEntries must not truncate entries
/// the follower acknowledged (DotNext truncates on every overwrite).</item>
/// <item><see cref="ResentSnapshotMiddleware"/>: a snapshot sent again after it was installed is
/// answered as replicated (DotNext refused it and its leader re-sent it forever).</item>
/// <item><see cref="DurableAppendMiddleware"/>: a follower acknowledges appended entries only once
/// they are durable (DotNext answered before its background flush).</item>
/// <item><see cref="WalFlushProbe"/> and <see cref="WalFlushSignal"/>: the flushed index read and
/// awaited without DotNext's single-waiter <c>FlushAsync</c> event (a second waiter crashed the process).</item>
/// <item><see cref="StateMachine.ProposalContext.Matches"/>: apply answers a proposer only from its
/// own entry's bytes (DotNext hands a deposed leader's context to the new leader's entry at that index).</item>
/// <item><see cref="ClusterView.TryGetLeadershipTerm"/>, used by <see cref="WriteCoordinator"/>:
/// new entries carry the term this node leads in (DotNext's helper stamps the current term, already
/// the new leader's during a step-down).</item>
/// <item><see cref="PreVoteMiddleware"/>: a pre-vote is granted once no leader was heard for the lower
/// election timeout, as in etcd (DotNext waited for the follower's own randomised timeout, which cost
/// a failover a whole extra timeout when the first follower to ask was refused).</item>
/// <item><see cref="VoteMiddleware"/>: the same rule for the real vote (DotNext refused a candidate
/// whose pre-vote it had just granted while its own randomised timeout ran, and the vote split).</item>
/// <item><see cref="VoteDeadlineHandler"/>: a vote request a member does not answer fails before the
/// candidate's voting timeout (DotNext waited for every vote and abandoned an election that already had a
/// majority, so a paused or frozen leader left the cluster without one for good); the member that missed it
/// gets the same deadline on every AppendEntries for one RPC timeout, until it answers (the new leader's first,
/// always refused, round waited for the hung member's 1 s timeout before its second).</item>
/// <item><see cref="CatchUpTransferHandler"/> and <see cref="RaftBodyLimitMiddleware"/>: an InstallSnapshot
/// or a catch-up AppendEntries gets a timeout of its own, and no request-body limit (DotNext gave them the
/// Raft RPC timeout, and the peer endpoint Kestrel's 30 MB limit: a follower behind a compaction of any
/// larger state, or more than 30 MB of entries behind, never rejoined). While one is in flight the state
/// machine holds its next snapshot back (<see cref="StateMachine.SnapshotHold"/>): the compaction it
/// triggers waited for the read lock DotNext holds around the catch-up, with every write queued behind it;
/// and after each snapshot it publishes the leader appends an empty entry (<see cref="CompactionNudge"/>), so
/// that the compaction runs at once instead of at the next write, perhaps in the middle of a catch-up.</item>
/// <item><see cref="SnapshotAnswerMiddleware"/> and <see cref="SnapshotAnswerHandler"/>: a follower's
/// InstallSnapshot answer never counts towards a commit, as the follower sends it and as the leader reads
/// it (DotNext's leader commits the middle of a majority's answers, not the smallest: with 5 or 7+ members a
/// snapshot answer below the round's index let it commit an entry too few members held).</item>
/// <item><see cref="TornTailRepair"/>: a log tail a crash left half rewritten is mended at start (DotNext
/// restarted a follower killed between a leader's overwrite and its checkpoint with a write position before the
/// rewritten entries' data, and its next append overwrote them).</item>
/// </list>
/// Not a defect, but DotNext's too: <see cref="RaftLogThrottle"/> samples its per-request "member unavailable"
/// warnings (event ids of 6.12), which flooded the log while a peer was down; and
/// <see cref="RaftWire.HoldsLeadership"/> reads the role of a stopped cluster as "not leader" (its
/// <c>LeadershipToken</c> throws while it still raises <c>LeaderChanged</c>).
/// <see cref="PinnedVersion"/> is the DotNext these were verified against; a test fails when the
/// referenced DotNext differs, so an upgrade re-examines each of them.
/// </summary>
public static class DotNextShimsExtensions
{
    /// <summary>The DotNext.Net.Cluster assembly version every shim above was verified against.</summary>
    public static readonly Version PinnedVersion = new(6, 12, 0, 0);

    /// <summary>
    /// Puts the shims in front of DotNext's consensus handler, in order: a snapshot's answer is rewritten
    /// on its way out, whoever gives it; the snapshot and stale-append guards decide what DotNext sees;
    /// durability then holds back the answer of whatever appends.
    /// </summary>
    public static IApplicationBuilder UseDotNextShims(this IApplicationBuilder app) =>
        app.UseMiddleware<RaftBodyLimitMiddleware>()
            .UseMiddleware<PreVoteMiddleware>()
            .UseMiddleware<VoteMiddleware>()
            .UseMiddleware<SnapshotAnswerMiddleware>()
            .UseMiddleware<ResentSnapshotMiddleware>()
            .UseMiddleware<StaleAppendGuardMiddleware>()
            .UseMiddleware<DurableAppendMiddleware>();
}
