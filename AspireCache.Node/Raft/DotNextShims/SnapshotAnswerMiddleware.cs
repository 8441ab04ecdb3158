namespace AspireCache.Node.Raft.DotNextShims;

/// <summary>
/// A follower's answer to an InstallSnapshot never counts towards a commit: it goes out as
/// <c>Replicated</c>, never <c>ReplicatedWithLeaderTerm</c>.
/// <para>
/// DotNext 6.12's leader ends a replication round once a majority has answered and commits the middle of
/// those answers (<c>LeaderState.GetCommitIndex</c>: sorted, <c>[(n - 1) / 2]</c>), not the smallest, as Raft
/// does. An AppendEntries answer with the leader's term always acknowledges the round's last index C (DotNext
/// sends a follower every entry up to it), but a snapshot answer acknowledges the snapshot's index S &lt; C. With
/// five members, answers C, C and S made the leader commit C, which two of five held: if both failed, the other
/// three could elect a leader without it and an acknowledged write was lost (the same with 7 or more; 3, 4 and 6
/// were safe). Answered <c>Replicated</c>, the leader counts the snapshot as contact with index 0
/// (<c>MemberResult.Touched</c>), as it does a refused append: the round then needs a majority of C answers
/// before C is the middle, for every cluster size (<c>CommitQuorumTests</c> runs DotNext's own barrier and rule).
/// </para>
/// <para>
/// Nothing is lost by it: a leader snapshots only committed entries, so S is at or below its commit index and
/// committing S was never progress. The leader still moves the follower past S (it sets the next index the
/// same way for both answers), and the follower's next AppendEntries counts as before.
/// </para>
/// <para>
/// The leader reads snapshot answers the same way (<see cref="SnapshotAnswerHandler"/>), so that it is safe
/// whichever side runs this version: in a rolling upgrade, a follower of an older one still answers
/// <c>ReplicatedWithLeaderTerm</c>.
/// </para>
/// </summary>
internal sealed class SnapshotAnswerMiddleware(RequestDelegate next)
{
    public async Task InvokeAsync(HttpContext context)
    {
        if (!RaftWire.Is(context.Request, RaftWire.InstallSnapshot))
        {
            await next(context);
            return;
        }

        var response = context.Response;
        var body = response.Body;
        using var buffer = new MemoryStream(32);
        response.Body = buffer; // the answer is one word (DotNext writes HeartbeatResult's name); nothing leaves before it is read
        try
        {
            await next(context);
        }
        finally
        {
            response.Body = body;
        }

        if (response.StatusCode == StatusCodes.Status200OK && IsReplicatedWithLeaderTerm(buffer))
        {
            response.ContentLength = RaftWire.Replicated.Length;
            await response.WriteAsync(RaftWire.Replicated, context.RequestAborted);
            return;
        }

        buffer.Position = 0;
        await buffer.CopyToAsync(body, context.RequestAborted);
    }

    private static bool IsReplicatedWithLeaderTerm(MemoryStream buffer) =>
        buffer.TryGetBuffer(out var written) && written.AsSpan().SequenceEqual("ReplicatedWithLeaderTerm"u8); // RaftWire.ReplicatedWithLeaderTerm, as ASCII
}

/// <summary>
/// The leader's side of <see cref="SnapshotAnswerMiddleware"/>, on its Raft client: an InstallSnapshot answer
/// <c>ReplicatedWithLeaderTerm</c> reaches DotNext as <c>Replicated</c>, whatever version the follower runs.
/// </summary>
internal sealed class SnapshotAnswerHandler : DelegatingHandler
{
    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var response = await base.SendAsync(request, cancellationToken).ConfigureAwait(false);
        if (!response.IsSuccessStatusCode || !RaftWire.Is(request, RaftWire.InstallSnapshot))
        {
            return response;
        }

        // One word (HeartbeatResult's name); read into a buffer, which DotNext then reads again.
        if (await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false) == RaftWire.ReplicatedWithLeaderTerm)
        {
            var answered = response.Content;
            response.Content = new StringContent(RaftWire.Replicated);
            answered.Dispose();
        }

        return response;
    }
}
