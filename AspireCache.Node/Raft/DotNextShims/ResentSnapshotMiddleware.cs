using System.Globalization;
using DotNext.Net.Cluster.Consensus.Raft;

namespace AspireCache.Node.Raft.DotNextShims;

/// <summary>
/// Answers a snapshot sent again after this follower installed it as replicated, not refused.
/// <para>
/// When a leader times out waiting for a follower's answer to InstallSnapshot, it sends the
/// snapshot again. DotNext 6.12's follower, having installed it, refuses a snapshot at or below its
/// commit index, and its leader then falls back to index 0 and sends the same snapshot again, and
/// again, until it has a newer one — the follower gets no entries meanwhile (12 s seen with a
/// 300-entry interval, up to a whole snapshot interval in production). A snapshot at or below this
/// node's commit index, from the leader of this node's term, is answered here as replicated,
/// exactly as DotNext answers an accepted one: true, since every committed entry up to it is
/// already here. (<see cref="SnapshotAnswerMiddleware"/>, outside this one, then sends either answer as
/// plain <c>Replicated</c>, so that it never counts towards a commit.)
/// </para>
/// </summary>
internal sealed class ResentSnapshotMiddleware(RequestDelegate next, IPersistentState log, ILogger<ResentSnapshotMiddleware> logger)
{
    public async Task InvokeAsync(HttpContext context)
    {
        var headers = context.Request.Headers;
        if (RaftWire.Is(context.Request, RaftWire.InstallSnapshot)
            && RaftWire.TryParse(headers[RaftWire.SnapshotIndexHeader], out var snapshotIndex)
            && RaftWire.TryParse(headers[RaftWire.SnapshotTermHeader], out var snapshotTerm)
            && RaftWire.TryParse(headers[RaftWire.TermHeader], out var term)
            && term == log.Term
            && snapshotIndex <= log.LastCommittedEntryIndex)
        {
            Diagnostics.NodeLog.InstalledSnapshotResent(logger, snapshotIndex, log.LastCommittedEntryIndex, term);
            context.Response.StatusCode = StatusCodes.Status200OK;
            context.Response.Headers[RaftWire.TermHeader] = term.ToString(CultureInfo.InvariantCulture);
            await context.Response.WriteAsync(snapshotTerm == term ? RaftWire.ReplicatedWithLeaderTerm : RaftWire.Replicated, context.RequestAborted);
            return;
        }

        await next(context);
    }
}
