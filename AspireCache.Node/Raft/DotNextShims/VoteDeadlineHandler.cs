using AspireCache.Node.Diagnostics;
using Microsoft.Extensions.Options;

namespace AspireCache.Node.Raft.DotNextShims;

/// <summary>
/// On DotNext's Raft client: a vote request (<c>RequestVote</c>) that a member has not answered within
/// <see cref="ClusterOptions.VoteDeadline"/> fails as "member unavailable", before the candidate's voting
/// timeout runs out; and for one Raft RPC timeout after that, until the member answers something, every
/// AppendEntries to it gets the same deadline (<see cref="UnresponsivePeers"/>).
/// <para>
/// Why the vote deadline: DotNext 6.12's candidate waits for every member's vote, in the order they come,
/// and when its voting timeout (a random election timeout, 50–100 ms here) runs out first it abandons the
/// election, even with a majority of votes already granted. A member that does not answer at all (its
/// process paused, its host frozen, packets to it dropped) is not refused like a dead process's closed
/// port: its request hangs until the Raft RPC timeout (1 s). Every election then ran out of time, and the
/// two live nodes never elected a leader while the old one hung (seen with <c>kill -STOP</c> on the
/// leader: no leader in 30 s, the cluster unavailable). Failing the hung request first makes it a "no"
/// vote; the candidate counts the live member's vote and its own, a majority, and leads.
/// </para>
/// <para>
/// Why the requests after it: the new leader's first replication round always fails on the live
/// follower (DotNext sends it the no-op's index as the previous entry, see <see cref="PeerRefusalHandler"/>),
/// so that round completes, and the corrected second round starts, only when the hung member's answer
/// arrives too: its 1 s timeout. A new leader elected past a hung one was ready, and took writes, 1.1 s
/// after its election (<c>SIGNAL=STOP bench/failover.sh</c>, debug logs). The member that just missed a
/// vote deadline is the one to expect that from.
/// </para>
/// Safe: a request that fails is a message lost, which Raft tolerates; a slow live member whose vote missed
/// the deadline would have been too late for the candidate's voting timeout anyway, and one that answers
/// any request within the deadline is waited for as before, as is every member one RPC timeout after its
/// last missed vote. Pre-votes are never cut short (a live, loaded leader's veto keeps a loaded cluster
/// free of elections), nor snapshots. The cost, within that second: a marked member that is alive but
/// slower than the deadline loses its appends, so a leader whose other follower is down in that same
/// round has no majority for it and steps down (a double fault).
/// </summary>
internal sealed class VoteDeadlineHandler(IOptions<ClusterOptions> options, UnresponsivePeers unresponsive, ILogger<VoteDeadlineHandler> logger) : DelegatingHandler
{
    private readonly TimeSpan _deadline = options.Value.VoteDeadline;

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        // Votes always; appends only to a marked member. Pre-votes never (a live leader's veto must arrive,
        // however slow), nor snapshots (a transfer that cannot finish within the deadline).
        var vote = RaftWire.Is(request, RaftWire.RequestVote);
        string? peer = null;
        if (!vote && (!unresponsive.Any || !RaftWire.Is(request, RaftWire.AppendEntries) || !unresponsive.IsMarked(peer = request.RequestUri!.Authority)))
        {
            return await base.SendAsync(request, cancellationToken).ConfigureAwait(false);
        }

        peer ??= request.RequestUri!.Authority;
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(_deadline);
        try
        {
            var response = await base.SendAsync(request, deadline.Token).ConfigureAwait(false);
            unresponsive.Clear(peer); // it answered
            return response;
        }
        catch (OperationCanceledException ex) when (deadline.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            // Only a missed vote marks (or re-marks) the member: a live member slower than the deadline is
            // cut short for one RPC timeout at most, never for as long as it stays slow.
            if (vote && unresponsive.Mark(peer))
            {
                NodeLog.PeerUnresponsive(logger, peer, _deadline.TotalMilliseconds, unresponsive.WindowMs);
            }

            var what = vote ? "a vote request" : "an AppendEntries (it missed a vote deadline just before)";
            throw new HttpRequestException(HttpRequestError.Unknown, $"{peer} did not answer {what} within {_deadline.TotalMilliseconds:0} ms.", ex);
        }
    }
}

/// <summary>
/// Members that missed a vote deadline within the last Raft RPC timeout and have not answered since
/// (see <see cref="VoteDeadlineHandler"/>).
/// </summary>
public sealed class UnresponsivePeers(TimeProvider clock, IOptions<ClusterOptions> options)
    : PeerMarks(clock, TimeSpan.FromMilliseconds(options.Value.RaftRpcTimeoutMs));
