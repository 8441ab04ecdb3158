using System.Diagnostics;
using System.Net.Sockets;
using AspireCache.Node.Diagnostics;
using Microsoft.Extensions.Options;

namespace AspireCache.Node.Raft.DotNextShims;

/// <summary>
/// On DotNext's Raft client: once a peer refuses a connection (its process is gone, its port closed),
/// Raft requests to it fail at once, with the same error, for the lower election timeout, instead of
/// each waiting for its own refusal.
/// <para>
/// Why: a new leader's first replication round always fails on the live follower (DotNext sends it
/// the no-op's index as the previous entry), so that round cannot reach a quorum and completes only
/// when the dead member's answer arrives too; on a saturated 2-core box that refusal came back
/// 35–130 ms after the request, every round. Failing a request is always safe in Raft (it is message
/// loss), and a restarted peer is contacted again at most one lower election timeout later.
/// </para>
/// </summary>
internal sealed class PeerRefusalHandler(PeerRefusals refusals, ILogger<PeerRefusalHandler> logger) : DelegatingHandler
{
    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        // Uri.Authority builds a string: only while some peer is marked, or when one refuses.
        if (refusals.Any && refusals.Refuses(request.RequestUri!.Authority))
        {
            throw PeerRefusals.Refusal(request.RequestUri!.Authority);
        }

        var started = Stopwatch.GetTimestamp();
        try
        {
            return await base.SendAsync(request, cancellationToken).ConfigureAwait(false);
        }
        catch (HttpRequestException ex) when (ex.InnerException is SocketException { SocketErrorCode: SocketError.ConnectionRefused })
        {
            var peer = request.RequestUri!.Authority;
            refusals.Refused(peer);
            NodeLog.PeerRefused(logger, peer, Stopwatch.GetElapsedTime(started).TotalMilliseconds, refusals.WindowMs);
            throw;
        }
    }
}

/// <summary>Which peers refused a connection within the lower election timeout (see <see cref="PeerRefusalHandler"/>).</summary>
public sealed class PeerRefusals(TimeProvider clock, IOptions<ClusterOptions> options, NodeTelemetry telemetry)
    : PeerMarks(clock, TimeSpan.FromMilliseconds(options.Value.LowerElectionTimeoutMs))
{
    /// <summary>Records a refused connection to <paramref name="peer"/> (host:port).</summary>
    public void Refused(string peer)
    {
        Mark(peer);
        telemetry.PeerRefused(fast: false);
    }

    /// <summary>Whether a request to <paramref name="peer"/> should fail at once (it refused one within the window).</summary>
    public bool Refuses(string peer)
    {
        if (!IsMarked(peer))
        {
            return false; // never refused, or the window is over: try the wire again
        }

        telemetry.PeerRefused(fast: true);
        return true;
    }

    /// <summary>The error a refused connection raises, as SocketsHttpHandler raises it.</summary>
    public static HttpRequestException Refusal(string peer) =>
        new(HttpRequestError.ConnectionError, $"{peer} refused a connection within the lower election timeout (failed at once).", new SocketException((int)SocketError.ConnectionRefused));
}
