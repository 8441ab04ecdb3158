using DotNext.IO.Log;
using DotNext.Net.Cluster.Consensus.Raft;

namespace AspireCache.Node.Raft.DotNextShims;

/// <summary>
/// Keeps a late, stale AppendEntries from cutting entries this follower already acknowledged.
/// <para>
/// Raft truncates a follower's log only where an incoming entry <em>conflicts</em> (same index,
/// different term). DotNext 6.12 truncates on every overwrite: appending entries
/// <c>prev+1..end</c> sets the last index to <c>end</c> whatever followed. A request that arrives
/// late — the leader timed out on it and sent a longer one, or it sat in the socket of a paused
/// process — therefore drops <c>end+1..last</c>, entries the leader may already count as
/// replicated here. If the leader's majority was this follower, a committed entry now lives on the
/// leader alone; an election without the leader overwrites it, and the old leader, which applied
/// it, diverges for good (verify/findings/2026-11-30-process-faults-revision-divergence.md).
/// </para>
/// <para>
/// The same holds for a resend of the request that brought this log's last entry (<c>end</c> is the last
/// index): rewritten and cut off mid-stream, it dropped the acknowledged entries after the cut.
/// The request is stale exactly when this log already holds entry <c>end</c> with the sender's
/// term: one leader per term, and Raft's log matching, mean entries up to <c>end</c> are the
/// leader's, and so is everything after it (terms never decrease along the log). Such a request
/// is handed to DotNext as a heartbeat (entry count 0, same preceding index): nothing is rewritten,
/// commit and election timer advance as usual, and the leader learns <c>end</c> is replicated —
/// true. Requests are checked and handled one at a time, so no other append slips in between.
/// </para>
/// </summary>
internal sealed class StaleAppendGuardMiddleware(RequestDelegate next, IPersistentState log, ILogger<StaleAppendGuardMiddleware> logger)
{
    private readonly SemaphoreSlim _gate = new(1, 1);

    public async Task InvokeAsync(HttpContext context)
    {
        var headers = context.Request.Headers;
        if (!RaftWire.Is(context.Request, RaftWire.AppendEntries)
            || !RaftWire.TryParse(headers[RaftWire.EntriesCountHeader], out var count) || count <= 0
            || !RaftWire.TryParse(headers[RaftWire.PrecedingIndexHeader], out var preceding)
            || !RaftWire.TryParse(headers[RaftWire.TermHeader], out var senderTerm))
        {
            await next(context);
            return;
        }

        await _gate.WaitAsync(context.RequestAborted);
        try
        {
            var end = preceding + count;
            if (end <= log.LastEntryIndex && end > log.LastCommittedEntryIndex && await TermAtAsync(end, context.RequestAborted) == senderTerm)
            {
                Diagnostics.NodeLog.StaleAppendIgnored(logger, preceding + 1, end, log.LastEntryIndex, senderTerm);
                headers[RaftWire.EntriesCountHeader] = "0"; // DotNext reads no entries: a heartbeat at the same preceding index
                context.Items[DurableAppendMiddleware.AcknowledgesEntriesKey] = true; // its answer still vouches for entries up to `end`: they must be durable
            }

            await next(context);
        }
        finally
        {
            _gate.Release();
        }
    }

    private ValueTask<long> TermAtAsync(long index, CancellationToken token) => LogTerms.TermAtAsync(log, index, token);
}
