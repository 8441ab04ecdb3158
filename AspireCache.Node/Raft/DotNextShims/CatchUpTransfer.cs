using System.Diagnostics;
using AspireCache.Node.Diagnostics;
using DotNext.Net.Cluster.Consensus.Raft;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Options;

namespace AspireCache.Node.Raft.DotNextShims;

/// <summary>
/// On DotNext's Raft client: the requests that bring a follower back, an InstallSnapshot or an
/// AppendEntries larger than two <see cref="ClusterOptions.MaxEntryBytes"/> (a round to a follower that is
/// up to date carries one entry or two), get <see cref="ClusterOptions.CatchUpTransferTimeout"/>, not the
/// Raft RPC timeout, and end when this node stops leading or shuts down.
/// <para>
/// Why: a follower that missed entries the others have compacted away can only be brought back by the
/// leader's snapshot, which is the whole state (~150 MB for 500,000 keys of 256 B); one that missed
/// entries not yet compacted is sent all of them in one AppendEntries (DotNext 6.12 has no bound on
/// entries per request). DotNext gives every Raft message the RPC timeout (1 s here; its own default is
/// half the upper election timeout): the leader cancelled a longer transfer half-way, the follower
/// discarded it, and the leader sent it again from the start, forever. The follower never rejoined
/// (seen on the bench cluster after a follower was slowed during a 500,000-key load; the cluster then
/// ran on two nodes).
/// </para>
/// <para>
/// How: the request is sent on a token of its own (the leader's leadership token, the host's stopping
/// token and the timeout) instead of DotNext's, and the answer is read into memory before it is handed
/// back, so DotNext parses it without touching the network with its own, by then expired, token.
/// DotNext replicates to each member in a process of its own and commits on a majority, so a long
/// transfer to one follower holds up nothing but that follower. The receiving side is
/// <see cref="RaftBodyLimitMiddleware"/>.
/// </para>
/// </summary>
internal sealed class CatchUpTransferHandler(IServiceProvider services, IOptions<ClusterOptions> options, IHostApplicationLifetime lifetime, ILogger<CatchUpTransferHandler> logger) : DelegatingHandler
{
    private readonly TimeSpan _timeout = options.Value.CatchUpTransferTimeout;
    private readonly long _largeAppendBytes = 2 * options.Value.MaxEntryBytes;

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        if (!IsCatchUp(request) || !TryGetLeadershipToken(out var leadership))
        {
            return await base.SendAsync(request, cancellationToken).ConfigureAwait(false);
        }

        var started = Stopwatch.GetTimestamp();
        using var transfer = CancellationTokenSource.CreateLinkedTokenSource(leadership, lifetime.ApplicationStopping);
        transfer.CancelAfter(_timeout);
        try
        {
            var response = await base.SendAsync(request, transfer.Token).ConfigureAwait(false);
            await response.Content.LoadIntoBufferAsync(transfer.Token).ConfigureAwait(false);
            NodeLog.CatchUpSent(logger, RaftWire.Is(request, RaftWire.InstallSnapshot) ? "Snapshot" : "AppendEntries", request.Content?.Headers.ContentLength ?? -1, request.RequestUri!.Authority, Stopwatch.GetElapsedTime(started).TotalMilliseconds, (int)response.StatusCode);
            return response;
        }
        catch (OperationCanceledException ex) when (transfer.IsCancellationRequested && !leadership.IsCancellationRequested && !lifetime.ApplicationStopping.IsCancellationRequested)
        {
            // As DotNext reports its own timeouts: the member is unavailable for now, and it tries again.
            throw new TimeoutException($"The catch-up sent to {request.RequestUri!.Authority} was not answered within {_timeout.TotalSeconds:0} s (Cluster:CatchUpTransferTimeout).", ex);
        }
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
/// 30 MB behind was refused every time, and never caught up). It runs after node-to-node
/// authentication: with a cluster secret, only a member can send them.
/// </summary>
internal sealed class RaftBodyLimitMiddleware(RequestDelegate next)
{
    public Task InvokeAsync(HttpContext context)
    {
        if ((RaftWire.Is(context.Request, RaftWire.AppendEntries) || RaftWire.Is(context.Request, RaftWire.InstallSnapshot))
            && context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit)
        {
            limit.MaxRequestBodySize = null;
        }

        return next(context);
    }
}
