using AspireCache.Node.Diagnostics;
using DotNext.Net.Cluster.Consensus.Raft;
using Microsoft.Extensions.Options;

namespace AspireCache.Node.Raft.DotNextShims;

/// <summary>
/// Pre-votes by etcd's rule: granted once this follower has not heard from a leader for the lower
/// election timeout.
/// <para>
/// DotNext 6.12 grants a pre-vote only when the time since it last heard from the leader exceeds the
/// follower's <em>own randomised</em> timeout. After a leader dies, the first follower whose timer runs
/// out is therefore refused by the other (whose timer has not run out yet), waits a whole timeout
/// more, and the election happens at the later of the two timers or after — measured here as ~200 ms
/// lost in a typical failover (the up-to-date follower refused at 198 ms, elected at 400 ms). etcd
/// grants a pre-vote once the <em>base</em> timeout has passed without word from the leader; this
/// answers PreVote by that rule when it grants, and leaves every other case to DotNext.
/// </para>
/// <para>
/// Safety: a pre-vote changes no state on either side (no term, no vote recorded); the real vote,
/// DotNext's, still decides. Disruption: a leader that is alive refuses pre-votes itself
/// (<see cref="ClusterOptions.LeaderStickiness"/>) and the candidate counts every answer, so a
/// follower that merely missed heartbeats still cannot depose a live leader it can reach.
/// </para>
/// <para>
/// Tie-break: when both followers' timers run out together, their pre-votes cross and each would grant
/// the other's; both then become candidates, vote for themselves and split the vote (measured: 2 of 8
/// failovers needed a second round). A node that is running itself (<see cref="PreVoteEndorsement.IsRunning"/>)
/// grants only a candidate whose log is more up to date, or equally up to date with a lower member id
/// (<see cref="PreVoteRule.YieldsTo"/>); it refuses the others itself, so exactly one of the two wins.
/// </para>
/// </summary>
internal sealed class PreVoteMiddleware(
    RequestDelegate next,
    IRaftCluster cluster,
    IPersistentState log,
    LeaderSilenceMonitor silence,
    PreVoteEndorsement endorsement,
    IOptions<ClusterOptions> options,
    ILogger<PreVoteMiddleware> logger)
{
    private readonly TimeSpan _lowerTimeout = TimeSpan.FromMilliseconds(options.Value.LowerElectionTimeoutMs);
    private readonly bool _enabled = options.Value.FastPreVote;
    private string? _localId;

    public async Task InvokeAsync(HttpContext context)
    {
        var headers = context.Request.Headers;
        if (!_enabled
            || !RaftWire.Is(context.Request, RaftWire.PreVote)
            || !RaftWire.TryParse(headers[RaftWire.TermHeader], out var candidateTerm)
            || !RaftWire.TryParse(headers[RaftWire.RecordIndexHeader], out var lastIndex)
            || !RaftWire.TryParse(headers[RaftWire.RecordTermHeader], out var lastTerm)
            || headers[RaftWire.NodeIdHeader] is not [{ Length: > 0 } sender])
        {
            await next(context);
            return;
        }

        var stateVersion = RaftWire.TryParse(headers[RaftWire.StateVersionHeader], out var version) ? version : 0;
        var quiet = silence.SinceLeaderContact;
        if (PreVoteRule.MayGrant(
                localIsLeader: RaftWire.LeadsLocally(cluster),
                senderIsMember: RaftWire.IsPeer(cluster, sender),
                sinceLeaderContact: quiet,
                lowerElectionTimeout: _lowerTimeout,
                candidateTerm: candidateTerm,
                localTerm: log.Term,
                candidateStateVersion: stateVersion,
                localStateVersion: log.Version)
            && await LogTerms.CompareAsync(log, lastIndex, lastTerm, context.RequestAborted) is var comparison and >= 0)
        {
            if (!PreVoteRule.YieldsTo(endorsement.IsRunning, comparison, sender, LocalId))
            {
                NodeLog.PreVoteTieBroken(logger, candidateTerm + 1, sender);
                await AnswerAsync(context, RaftWire.PreVoteRefused);
                return;
            }

            NodeLog.PreVoteGranted(logger, candidateTerm + 1, sender, quiet.TotalMilliseconds);
            endorsement.Endorsed();
            await AnswerAsync(context, RaftWire.PreVoteAccepted);
            return;
        }

        await next(context); // refused by our rule: DotNext answers by its own (it may still grant)
    }

    /// <summary>This node's member id as peers send it in <see cref="RaftWire.NodeIdHeader"/>.</summary>
    private string LocalId => _localId ??= cluster.Members.FirstOrDefault(static m => !m.IsRemote)?.Id.ToString() ?? string.Empty;

    private Task AnswerAsync(HttpContext context, string result)
    {
        context.Response.StatusCode = StatusCodes.Status200OK;
        context.Response.Headers[RaftWire.TermHeader] = log.Term.ToString(System.Globalization.CultureInfo.InvariantCulture);
        return context.Response.WriteAsync(result, context.RequestAborted);
    }
}

/// <summary>
/// Having granted a pre-vote, a follower does not run against that candidate: for the upper election
/// timeout its own pre-votes are answered "refused" before they leave (<see cref="PreVoteHoldOffHandler"/>),
/// so it stays a follower and gives the candidate its vote.
/// <para>
/// Without it the two followers left after a leader dies often both became candidates within the
/// ~150 ms it takes one of them (pre-vote, term written to disk, vote requests) to ask the other, split
/// the vote and started over a whole timeout later (measured: term 3, not 2, in 3 of 3 failovers).
/// A pre-vote only gates an election, so this changes no safety property; if the endorsed candidate
/// fails, this node runs one upper timeout later than it otherwise could.
/// </para>
/// </summary>
public sealed class PreVoteEndorsement(TimeProvider clock, IOptions<ClusterOptions> options)
{
    private readonly TimeSpan _holdOff = TimeSpan.FromMilliseconds(options.Value.UpperElectionTimeoutMs);
    private long _endorsedAt = long.MinValue;
    private long _ranAt = long.MinValue;

    /// <summary>Records that this node just granted a pre-vote.</summary>
    public void Endorsed() => Interlocked.Exchange(ref _endorsedAt, clock.GetTimestamp());

    /// <summary>Records that this node just sent a pre-vote of its own (it runs for leader).</summary>
    public void Running() => Interlocked.Exchange(ref _ranAt, clock.GetTimestamp());

    /// <summary>Whether this node sent a pre-vote of its own within the upper election timeout.</summary>
    public bool IsRunning => Within(ref _ranAt);

    /// <summary>Whether this node granted a pre-vote within the upper election timeout.</summary>
    public bool HoldsOff => Within(ref _endorsedAt);

    private bool Within(ref long stamp)
    {
        var at = Interlocked.Read(ref stamp);
        return at != long.MinValue && clock.GetElapsedTime(at) < _holdOff;
    }
}

/// <summary>
/// On DotNext's Raft client: while <see cref="PreVoteEndorsement.HoldsOff"/>, this node's own pre-vote
/// requests are answered "RejectedByFollower" locally (DotNext's wire format), so it does not start an
/// election against the candidate it just endorsed; the pre-votes it does send mark it as running
/// (<see cref="PreVoteEndorsement.Running"/>) for the tie-break.
/// </summary>
internal sealed class PreVoteHoldOffHandler(PreVoteEndorsement endorsement, IPersistentState log) : DelegatingHandler
{
    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var preVote = RaftWire.Is(request, RaftWire.PreVote);
        if (preVote && endorsement.HoldsOff)
        {
            var refused = new HttpResponseMessage(System.Net.HttpStatusCode.OK)
            {
                RequestMessage = request,
                Content = new StringContent(RaftWire.PreVoteRefused),
            };
            refused.Headers.Add(RaftWire.TermHeader, log.Term.ToString(System.Globalization.CultureInfo.InvariantCulture));
            return Task.FromResult(refused);
        }

        if (preVote)
        {
            endorsement.Running();
        }

        return base.SendAsync(request, cancellationToken);
    }
}

/// <summary>The part of the pre-vote decision that needs no log read (see <see cref="PreVoteMiddleware"/>).</summary>
internal static class PreVoteRule
{
    /// <summary>
    /// Whether a pre-vote from a member for <paramref name="candidateTerm"/> + 1 may be granted before
    /// the log check: this node does not lead, has not heard from a leader for the lower election
    /// timeout, and the candidate is not behind in term or state version (DotNext's own checks).
    /// </summary>
    public static bool MayGrant(
        bool localIsLeader,
        bool senderIsMember,
        TimeSpan sinceLeaderContact,
        TimeSpan lowerElectionTimeout,
        long candidateTerm,
        long localTerm,
        long candidateStateVersion,
        long localStateVersion) =>
        !localIsLeader
        && senderIsMember
        && sinceLeaderContact >= lowerElectionTimeout
        && candidateTerm + 1 >= localTerm
        && candidateStateVersion <= localStateVersion;

    /// <summary>
    /// The tie-break between two nodes running at once (see <see cref="PreVoteMiddleware"/>): a node that
    /// is not running grants; one that is grants a candidate whose log is more up to date
    /// (<paramref name="logComparison"/> &gt; 0), or as up to date with a lower member id (ordinal).
    /// </summary>
    public static bool YieldsTo(bool running, int logComparison, string candidate, string self) =>
        !running || logComparison > 0 || (logComparison == 0 && string.CompareOrdinal(candidate, self) < 0);
}
