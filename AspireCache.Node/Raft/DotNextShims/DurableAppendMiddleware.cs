using DotNext.Net.Cluster.Consensus.Raft;
using DotNext.Net.Cluster.Consensus.Raft.StateMachine;

namespace AspireCache.Node.Raft.DotNextShims;

/// <summary>
/// A follower acknowledges appended entries only once they are durable.
/// <para>
/// DotNext 6.12's <see cref="WriteAheadLog"/> answers an AppendEntries as soon as the entries are in
/// its mapped pages; a background flusher makes them durable (and records them in the WAL checkpoint,
/// which is all a restart keeps) a moment later. The leader counts that answer towards the majority,
/// so a write could be acknowledged while only the leader held it durably: a hard crash of the
/// leader and of that follower inside the flush window, followed by an election between the
/// restarted follower and the third node, lost the write (verified with a crash test against the
/// decompiled 6.12 WAL: entries appended and acknowledged, then <c>FailFast</c>, were gone on
/// restart; with a flush first they were kept).
/// </para>
/// <para>
/// This middleware sits in front of DotNext's consensus handler: for an AppendEntries that carries
/// entries it buffers the handler's answer, waits until the WAL's background flusher has flushed
/// every appended entry and recorded it in the checkpoint (the flusher starts at once: every append
/// triggers it), and only then lets the answer go. A flush that does not come within the bound sends
/// no success: the leader sees an error and retries. Heartbeats (no entries) pass straight through.
/// The cost is one flush per replication round on each follower; group commit puts many writes in
/// each round.
/// </para>
/// <para>
/// It polls the flushed index (<see cref="WalFlushProbe"/>) rather than awaiting
/// <see cref="WriteAheadLog.FlushAsync"/>: that waits on an event DotNext's own commit path waits on
/// too, and a second waiter crashed the process (see <see cref="WalFlushProbe"/>).
/// </para>
/// </summary>
internal sealed class DurableAppendMiddleware(RequestDelegate next, IPersistentState log, Diagnostics.NodeTelemetry telemetry, ILogger<DurableAppendMiddleware> logger)
{
    /// <summary>Flushes slower than this are logged (a warning, as etcd does for slow fdatasync).</summary>
    private static readonly TimeSpan SlowFlush = TimeSpan.FromMilliseconds(100);

    private static readonly TimeSpan FlushTimeout = TimeSpan.FromSeconds(5);

    /// <summary>Set by <see cref="StaleAppendGuardMiddleware"/> on a request it turned into a heartbeat whose answer still acknowledges entries.</summary>
    internal const string AcknowledgesEntriesKey = "aspirecache.acknowledges-entries";

    private readonly WriteAheadLog? _wal = log as WriteAheadLog;
    private readonly Func<WriteAheadLog, long>? _unflushedIndex = log is WriteAheadLog ? WalFlushProbe.Create() : null;

    public async Task InvokeAsync(HttpContext context)
    {
        var withEntries = IsAppendWithEntries(context.Request);
        if (_wal is null || !(withEntries || context.Items.ContainsKey(AcknowledgesEntriesKey)))
        {
            await next(context);
            return;
        }

        var response = context.Response;
        var body = response.Body;
        using var buffer = new MemoryStream(64);
        response.Body = buffer; // nothing reaches the leader, headers included, before the flush
        var answered = false;
        try
        {
            await next(context);
            answered = response.StatusCode == StatusCodes.Status200OK && !context.RequestAborted.IsCancellationRequested;
        }
        finally
        {
            response.Body = body;
            if (withEntries && !answered)
            {
                await ResumeFlushAfterCutOffAsync(context.Request); // failed: thrown, or answered by DotNext itself
            }
        }

        if (response.StatusCode == StatusCodes.Status200OK)
        {
            // Bounded: a log truncated meanwhile by a newer leader could leave the awaited index
            // unflushed until more entries arrive; the leader then sees an error and retries.
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted);
            timeout.CancelAfter(FlushTimeout);
            var started = System.Diagnostics.Stopwatch.GetTimestamp();
            await WalFlushSignal.WaitUntilDurableAsync(_wal, _unflushedIndex!, _wal.LastEntryIndex, timeout.Token);
            var elapsed = System.Diagnostics.Stopwatch.GetElapsedTime(started);
            telemetry.AppendFlushed(elapsed.TotalMilliseconds);
            if (elapsed > SlowFlush)
            {
                Diagnostics.NodeLog.SlowAppendFlush(logger, elapsed.TotalMilliseconds);
            }
        }

        buffer.Position = 0;
        await buffer.CopyToAsync(body, context.RequestAborted);
    }

    /// <summary>
    /// After DotNext's append of a request failed part way (its body broke: the leader died or gave up mid-stream).
    /// DotNext 6.12's <c>AppendAsync</c> then skips setting its flush position and waking the flusher: the entries
    /// it wrote are not flushed, and after a rewrite the flush position stays past the new last index, so the next
    /// appends would count as flushed at once and be acknowledged before they are durable. An append of no entries
    /// at the request's first index (above the commit index, within the log) takes DotNext's own path: flush
    /// position set there, flusher woken; it writes and cuts nothing. Never throws; the request's failure goes on.
    /// </summary>
    private async Task ResumeFlushAfterCutOffAsync(HttpRequest request)
    {
        if (!RaftWire.TryParse(request.Headers[RaftWire.PrecedingIndexHeader], out var preceding))
        {
            return;
        }

        var wal = _wal!;
        var from = long.Max(preceding + 1, wal.LastCommittedEntryIndex + 1);
        if (from > wal.LastEntryIndex)
        {
            return; // nothing of it in the log
        }

        try
        {
            await wal.AppendAsync(new DotNext.IO.Log.LogEntryProducer<BinaryLogEntry>(), from, skipCommitted: true, CancellationToken.None);
            Diagnostics.NodeLog.CutOffAppendResumed(logger, from, wal.LastEntryIndex);
        }
        catch (Exception ex) when (ex is ObjectDisposedException or OperationCanceledException)
        {
            // the WAL is closing: nothing to flush for
        }
        catch (Exception ex)
        {
            Diagnostics.NodeLog.CutOffAppendNotResumed(logger, from, ex);
        }
    }

    private static bool IsAppendWithEntries(HttpRequest request) =>
        RaftWire.Is(request, RaftWire.AppendEntries)
        && RaftWire.TryParse(request.Headers[RaftWire.EntriesCountHeader], out var entries)
        && entries > 0;
}
