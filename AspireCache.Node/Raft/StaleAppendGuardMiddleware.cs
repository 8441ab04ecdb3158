using System.Globalization;
using DotNext.IO.Log;
using DotNext.Net.Cluster.Consensus.Raft;

namespace AspireCache.Node.Raft;

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
/// The request is stale exactly when this log already holds entry <c>end</c> with the sender's
/// term: one leader per term, and Raft's log matching, mean entries up to <c>end</c> are the
/// leader's, and so is everything after it (terms never decrease along the log). Such a request
/// is handed to DotNext as a heartbeat (entry count 0, same preceding index): nothing is rewritten,
/// commit and election timer advance as usual, and the leader learns <c>end</c> is replicated —
/// true. Requests are checked and handled one at a time, so no other append slips in between.
/// </para>
/// <para>
/// The same goes for a snapshot sent again after this follower installed it (the leader timed out
/// waiting for the first answer): DotNext refuses a snapshot at or below its commit index, and its
/// leader then falls back to index 0 and sends the same snapshot again, and again, until it has a
/// newer one — the follower gets no entries meanwhile (12 s seen with a 300-entry interval). A
/// snapshot at or below this node's commit index, from the leader of this node's term, is answered
/// here as replicated, exactly as DotNext answers an accepted one: true, since every committed
/// entry up to it is already here.
/// </para>
/// </summary>
internal sealed class StaleAppendGuardMiddleware(RequestDelegate next, IPersistentState log, ILogger<StaleAppendGuardMiddleware> logger)
{
    internal const string MessageTypeHeader = "X-Raft-Message-Type";
    internal const string EntriesCountHeader = "X-Raft-Entries-Count";
    internal const string PrecedingIndexHeader = "X-Raft-Preceding-Record-Index";
    internal const string TermHeader = "X-Raft-Term";

    private readonly SemaphoreSlim _gate = new(1, 1);

    internal const string SnapshotIndexHeader = "X-Raft-Snapshot-Index";
    internal const string SnapshotTermHeader = "X-Raft-Snapshot-Term";

    public async Task InvokeAsync(HttpContext context)
    {
        var headers = context.Request.Headers;
        if (HttpMethods.IsPost(context.Request.Method)
            && headers[MessageTypeHeader] is ["InstallSnapshot"]
            && TryParse(headers[SnapshotIndexHeader], out var snapshotIndex)
            && TryParse(headers[SnapshotTermHeader], out var snapshotTerm)
            && TryParse(headers[TermHeader], out var term)
            && term == log.Term
            && snapshotIndex <= log.LastCommittedEntryIndex)
        {
            Diagnostics.NodeLog.InstalledSnapshotResent(logger, snapshotIndex, log.LastCommittedEntryIndex, term);
            context.Response.StatusCode = StatusCodes.Status200OK;
            context.Response.Headers[TermHeader] = term.ToString(CultureInfo.InvariantCulture);
            await context.Response.WriteAsync(snapshotTerm == term ? "ReplicatedWithLeaderTerm" : "Replicated", context.RequestAborted);
            return;
        }

        if (!HttpMethods.IsPost(context.Request.Method)
            || headers[MessageTypeHeader] is not ["AppendEntries"]
            || !TryParse(headers[EntriesCountHeader], out var count) || count <= 0
            || !TryParse(headers[PrecedingIndexHeader], out var preceding)
            || !TryParse(headers[TermHeader], out var senderTerm))
        {
            await next(context);
            return;
        }

        await _gate.WaitAsync(context.RequestAborted);
        try
        {
            var end = preceding + count;
            if (end < log.LastEntryIndex && end > log.LastCommittedEntryIndex && await TermAtAsync(end, context.RequestAborted) == senderTerm)
            {
                Diagnostics.NodeLog.StaleAppendIgnored(logger, preceding + 1, end, log.LastEntryIndex, senderTerm);
                headers[EntriesCountHeader] = "0"; // DotNext reads no entries: a heartbeat at the same preceding index
                context.Items[DurableAppendMiddleware.AcknowledgesEntriesKey] = true; // its answer still vouches for entries up to `end`: they must be durable
            }

            await next(context);
        }
        finally
        {
            _gate.Release();
        }
    }

    private ValueTask<long> TermAtAsync(long index, CancellationToken token) =>
        ((IAuditTrail<IRaftLogEntry>)log).ReadAsync(TermReader.Instance, index, index, token);

    private static bool TryParse(Microsoft.Extensions.Primitives.StringValues value, out long result) =>
        long.TryParse(value.Count == 1 ? value[0] : null, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out result);

    private sealed class TermReader : ILogEntryConsumer<IRaftLogEntry, long>
    {
        public static readonly TermReader Instance = new();

        bool ILogEntryConsumer<IRaftLogEntry, long>.LogEntryMetadataOnly => true;

        ValueTask<long> ILogEntryConsumer<IRaftLogEntry, long>.ReadAsync<TEntry, TList>(TList entries, long? snapshotIndex, CancellationToken token) =>
            new(entries[0].Term);
    }
}
