using System.Diagnostics;
using AspireCache.Node.Diagnostics;
using AspireCache.Node.StateMachine;
using DotNext.Net.Cluster.Consensus.Raft;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Options;

namespace AspireCache.Node.Raft.DotNextShims;

/// <summary>
/// On DotNext's Raft client: the requests that bring a follower back, an InstallSnapshot or an
/// AppendEntries larger than two <see cref="ClusterOptions.MaxEntryBytes"/> (a round to a follower that is
/// up to date carries one entry or two), are not cut at the Raft RPC timeout while they make progress:
/// they fail once no byte of the body has gone out for one RPC timeout, or after
/// <see cref="ClusterOptions.CatchUpTransferTimeout"/> in all, or when this node stops leading or shuts down.
/// <para>
/// Why: a follower that missed entries the others have compacted away can only be brought back by the
/// leader's snapshot, which is the whole state (~150 MB for 500,000 keys of 256 B); one that missed
/// entries not yet compacted is sent all of them in one AppendEntries (DotNext 6.12 has no bound on
/// entries per request). DotNext gives every Raft message the RPC timeout (1 s here): the leader cancelled
/// a longer transfer half-way, the follower discarded it, and the leader sent it again from the start,
/// forever. The follower never rejoined (seen on the bench cluster after a follower was slowed during a
/// 500,000-key load; the cluster then ran on two nodes).
/// </para>
/// <para>
/// How: the request is sent on a token of its own instead of DotNext's, and its body through a stream
/// that pushes the stall deadline back on every write; the answer is read into memory before it is
/// handed back, so DotNext parses it without touching the network with its own, by then expired, token.
/// A failure is reported as DotNext reports its own timeouts (a cancellation caused by a
/// <see cref="TimeoutException"/>: "member unavailable", tried again).
/// </para>
/// <para>
/// The cost, and why the stall bound and the snapshot hold: DotNext sends a replication request while it
/// holds a read lock on its WAL, and the WAL's cleanup after a snapshot waits for that lock with every
/// other reader of the WAL queued behind it (its flusher, its apply loop, the rounds to the other
/// followers). A catch-up that coincided with a compaction therefore held writes for as long as it lasted
/// (such transfers took 2.1–5.7 s for 150–300 MB on the bench cluster). So while one is in flight the state
/// machine holds its next snapshot back (<see cref="SnapshotHold"/>), and one to a peer that stopped
/// reading fails after one RPC timeout without progress, as any request did before. A new leader's leadership token stays cancelled until its
/// first entry commits: in that window the request keeps DotNext's token (the old behaviour), since the
/// follower being caught up may be the one that commit needs.
/// </para>
/// The receiving side is <see cref="RaftBodyLimitMiddleware"/>.
/// </summary>
internal sealed class CatchUpTransferHandler(IServiceProvider services, IOptions<ClusterOptions> options, SnapshotHold snapshots, IHostApplicationLifetime lifetime, ILogger<CatchUpTransferHandler> logger) : DelegatingHandler
{
    private readonly TimeSpan _timeout = options.Value.CatchUpTransferTimeout;
    private readonly TimeSpan _stall = TimeSpan.FromMilliseconds(options.Value.RaftRpcTimeoutMs);
    private readonly long _largeAppendBytes = 2 * options.Value.MaxEntryBytes;

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        if (!IsCatchUp(request))
        {
            return await base.SendAsync(request, cancellationToken).ConfigureAwait(false);
        }

        // No compaction while it lasts: it would wait for the WAL read lock DotNext holds around this
        // request, and the WAL's flushes, commits, applies and rounds to the other followers behind it.
        using var held = snapshots.Enter();
        var response = TryGetLeadershipToken(out var leadership) && !leadership.IsCancellationRequested
            ? await SendWithProgressDeadlineAsync(request, leadership).ConfigureAwait(false)
            : await base.SendAsync(request, cancellationToken).ConfigureAwait(false);
        if (response.IsSuccessStatusCode)
        {
            held.EndAfter(_stall); // the follower's next round, for the entries after this, comes first
        }

        return response;
    }

    private async Task<HttpResponseMessage> SendWithProgressDeadlineAsync(HttpRequestMessage request, CancellationToken leadership)
    {
        var started = Stopwatch.GetTimestamp();
        var deadline = started + (long)(_timeout.TotalSeconds * Stopwatch.Frequency);
        using var transfer = CancellationTokenSource.CreateLinkedTokenSource(leadership, lifetime.ApplicationStopping);
        var body = request.Content!;
        var bytes = body.Headers.ContentLength ?? -1;
        var watched = new ObservedContent(
            body,
            afterWrite: (_, _) =>
            {
                transfer.CancelAfter(Remaining(_stall, deadline));
                return ValueTask.CompletedTask;
            },
            sent: () => transfer.CancelAfter(Remaining(_timeout, deadline)));
        request.Content = watched; // disposed with the request by DotNext, and the body with it
        transfer.CancelAfter(_stall);
        try
        {
            var response = await base.SendAsync(request, transfer.Token).ConfigureAwait(false);
            await response.Content.LoadIntoBufferAsync(transfer.Token).ConfigureAwait(false);
            NodeLog.CatchUpSent(logger, RaftWire.Is(request, RaftWire.InstallSnapshot) ? "Snapshot" : "AppendEntries", bytes, request.RequestUri!.Authority, Stopwatch.GetElapsedTime(started).TotalMilliseconds, (int)response.StatusCode);
            return response;
        }
        catch (OperationCanceledException ex) when (transfer.IsCancellationRequested && !leadership.IsCancellationRequested && !lifetime.ApplicationStopping.IsCancellationRequested)
        {
            var why = watched.Sent
                ? $"was not answered within {_timeout.TotalSeconds:0} s (Cluster:CatchUpTransferTimeout)"
                : $"made no progress for {_stall.TotalMilliseconds:0} ms (Cluster:RaftRpcTimeoutMs)";
            throw new TaskCanceledException($"The catch-up sent to {request.RequestUri!.Authority} {why}.", new TimeoutException(why, ex));
        }
    }

    private static TimeSpan Remaining(TimeSpan wanted, long deadline)
    {
        var left = TimeSpan.FromSeconds((double)(deadline - Stopwatch.GetTimestamp()) / Stopwatch.Frequency);
        return left <= TimeSpan.Zero ? TimeSpan.FromTicks(1) : (wanted < left ? wanted : left);
    }

    // Content-Length: DotNext computes it from the entries' lengths (the request-signing handler reads it too).
    private bool IsCatchUp(HttpRequestMessage request) =>
        RaftWire.Is(request, RaftWire.InstallSnapshot)
        || (RaftWire.Is(request, RaftWire.AppendEntries) && request.Content?.Headers.ContentLength > _largeAppendBytes);

    private bool TryGetLeadershipToken(out CancellationToken token)
    {
        // Resolved here, not in the constructor: DotNext builds this handler while the cluster is being built.
        try
        {
            token = services.GetRequiredService<IRaftCluster>().LeadershipToken;
            return true;
        }
        catch (UnreachableException)
        {
            token = default; // the cluster has stopped (see RaftWire.HoldsLeadership)
            return false;
        }
    }
}

/// <summary>
/// On the peer endpoint: an InstallSnapshot's body is as large as the state, and an AppendEntries to a
/// follower that is behind carries every entry it misses (DotNext 6.12 puts no bound on the entries per
/// request; the log between snapshots holds up to <see cref="ClusterOptions.SnapshotLogBytes"/>), so both
/// are exempt from the server's request-body limit (Kestrel's 30 MB by default: a follower more than
/// 30 MB behind was refused every time, and never caught up). Only on DotNext's Raft path, after
/// node-to-node authentication: with a cluster secret, only a member can send them. Without one, whoever
/// reaches the peer endpoint can send Raft messages at all (and rewrite the state), which the body limit
/// never guarded against: the cluster secret does.
/// </summary>
internal sealed class RaftBodyLimitMiddleware(RequestDelegate next)
{
    public Task InvokeAsync(HttpContext context)
    {
        if (context.Request.Path.StartsWithSegments(Auth.ClusterSignature.RaftProtocolPath, StringComparison.OrdinalIgnoreCase)
            && (RaftWire.Is(context.Request, RaftWire.AppendEntries) || RaftWire.Is(context.Request, RaftWire.InstallSnapshot))
            && context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit)
        {
            limit.MaxRequestBodySize = null;
        }

        return next(context);
    }
}
