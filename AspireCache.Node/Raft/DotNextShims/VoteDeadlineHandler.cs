using Microsoft.Extensions.Options;

namespace AspireCache.Node.Raft.DotNextShims;

/// <summary>
/// On DotNext's Raft client: a vote request (<c>RequestVote</c>) that a member has not answered within
/// <see cref="ClusterOptions.VoteDeadline"/> fails as "member unavailable", before the candidate's voting
/// timeout runs out.
/// <para>
/// Why: DotNext 6.12's candidate waits for every member's vote, in the order they come, and when its voting
/// timeout (a random election timeout, 50–100 ms here) runs out first it abandons the election, even with a
/// majority of votes already granted. A member that does not answer at all (its process paused, its host
/// frozen, packets to it dropped) is not refused like a dead process's closed port: its request hangs until
/// the Raft RPC timeout (1 s). Every election then ran out of time, and the two live nodes never elected a
/// leader while the old one hung (seen with <c>kill -STOP</c> on the leader: no leader in 30 s, the cluster
/// unavailable). Failing the hung request first makes it a "no" vote; the candidate counts the live
/// member's vote and its own, a majority, and leads. Safe: a vote that fails is a message lost, which Raft
/// tolerates; a slow live member whose vote misses the deadline would have been too late for the
/// candidate's voting timeout anyway.
/// </para>
/// </summary>
internal sealed class VoteDeadlineHandler(IOptions<ClusterOptions> options) : DelegatingHandler
{
    private readonly TimeSpan _deadline = options.Value.VoteDeadline;

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        if (!RaftWire.Is(request, RaftWire.RequestVote))
        {
            return await base.SendAsync(request, cancellationToken).ConfigureAwait(false);
        }

        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(_deadline);
        try
        {
            return await base.SendAsync(request, deadline.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException ex) when (!cancellationToken.IsCancellationRequested)
        {
            throw new HttpRequestException(HttpRequestError.Unknown, $"{request.RequestUri!.Authority} did not answer a vote request within {_deadline.TotalMilliseconds:0} ms.", ex);
        }
    }
}
