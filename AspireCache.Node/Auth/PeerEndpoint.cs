using AspireCache.Node.Api;
using AspireCache.Node.Diagnostics;

namespace AspireCache.Node.Auth;

/// <summary>
/// Keeps cluster traffic and client traffic on their own endpoints when the node has a separate
/// peer endpoint (<see cref="Raft.ClusterOptions.ResolvePeerPort"/>): Raft RPCs and the node-to-node
/// calls (read index, access reports) are served only on the peer port, and the client API, admin
/// endpoints and watch streams only on the others. <c>/health</c> and <c>/alive</c> answer on both.
/// A request on the wrong endpoint gets 404 before anything reads it; a Raft message on a client
/// endpoint is also logged (sampled: <see cref="RefusalLog"/>) and counted like any refused node-to-node request. In publish mode the
/// peer endpoint is not external, so clients cannot reach it at all.
/// </summary>
internal sealed class PeerEndpointMiddleware(RequestDelegate next, int peerPort, RefusalLog refusals)
{
    private static readonly PathString Health = "/health";
    private static readonly PathString Alive = "/alive";

    public Task InvokeAsync(HttpContext context)
    {
        var onPeerPort = context.Connection.LocalPort == peerPort;
        var cluster = ClusterAuthMiddleware.IsClusterRequest(context.Request);
        if (onPeerPort == cluster || IsProbe(context.Request.Path))
        {
            return next(context);
        }

        return cluster ? RefuseClusterRequestAsync(context) : RefuseClientRequestAsync(context);
    }

    private static bool IsProbe(PathString path) =>
        path.Equals(Health, StringComparison.OrdinalIgnoreCase) || path.Equals(Alive, StringComparison.OrdinalIgnoreCase);

    private Task RefuseClusterRequestAsync(HttpContext context)
    {
        refusals.Refused(context, "client-endpoint", "sent to a client endpoint");
        return Problems.Create(
            StatusCodes.Status404NotFound,
            "peer-endpoint-only",
            "Not served on this endpoint",
            "Raft and node-to-node requests are served only on the node's cluster endpoint.").ExecuteAsync(context);
    }

    private static Task RefuseClientRequestAsync(HttpContext context) =>
        Problems.Create(
            StatusCodes.Status404NotFound,
            "client-endpoint-only",
            "Not served on the cluster endpoint",
            "This is the node's cluster (peer) endpoint: it serves only Raft and node-to-node requests. Clients use the node's HTTP endpoint.").ExecuteAsync(context);
}
