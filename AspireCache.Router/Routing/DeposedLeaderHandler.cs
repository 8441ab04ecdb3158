using AspireCache.Router.Topology;

namespace AspireCache.Router.Routing;

/// <summary>
/// On the router's connections to the nodes: a write (a forwarded PUT/DELETE/batch, or a write batch of
/// the <see cref="WriteCoalescer"/>), or a read batch of the <see cref="ReadCoalescer"/> sent to the write
/// leader, sent to the node in <see cref="Leader"/> fails with
/// <see cref="DeposedLeaderException"/> as soon as the topology names another write leader
/// (<see cref="LeaderTenure"/>), or at once if it already does. The proxy path then treats it as an
/// unreachable node: "maybe applied", and on to the new leader with the same <c>Idempotency-Key</c>
/// (the state machine answers a repeated key with its recorded result, so nothing applies twice); a read
/// batch's reads go on alone. Without it, a write in flight to a paused or frozen leader waited until that
/// process answered or a timeout ran out, long after a new leader was elected (bench/README.md, session 20).
/// </summary>
/// <param name="tenureOf">A node's tenure as write leader (<see cref="TopologyMonitor.LeaderTenure"/>).</param>
internal sealed class DeposedLeaderHandler(Func<string, CancellationToken> tenureOf) : DelegatingHandler
{
    /// <summary>The node id a write is sent to as its leader (set by the proxy's transform and the write coalescer).</summary>
    public static readonly HttpRequestOptionsKey<string> Leader = new("aspirecache.write-leader");

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        // GETs (proxied reads: the hot path) never name a leader; not touching Options spares each of them
        // the dictionary HttpRequestMessage allocates on first access.
        if (request.Method == HttpMethod.Get || !request.Options.TryGetValue(Leader, out var node))
        {
            return await base.SendAsync(request, cancellationToken).ConfigureAwait(false);
        }

        var tenure = tenureOf(node);
        if (tenure.IsCancellationRequested)
        {
            throw new DeposedLeaderException(node, null);
        }

        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, tenure);
        try
        {
            return await base.SendAsync(request, linked.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException ex) when (tenure.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            throw new DeposedLeaderException(node, ex);
        }
    }
}

/// <summary>A write abandoned because the router learnt of a newer leader than the node it was sent to.</summary>
internal sealed class DeposedLeaderException(string node, Exception? inner)
    : HttpRequestException(HttpRequestError.Unknown, $"{node} is no longer the leader (the router learnt of a newer election); the write goes on to the new leader.", inner);
