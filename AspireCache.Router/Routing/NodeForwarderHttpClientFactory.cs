using AspireCache.Router.Topology;
using Yarp.ReverseProxy.Forwarder;

namespace AspireCache.Router.Routing;

/// <summary>
/// YARP's connections to the nodes: writes abandon a deposed leader (<see cref="DeposedLeaderHandler"/>),
/// and with the TLS option (<c>Tls:CaCertificatePath</c>) the private CA is trusted: the proxy builds its
/// own handlers, not through IHttpClientFactory, so <see cref="TlsTrust"/>'s HttpClient defaults do not reach it.
/// </summary>
internal sealed class NodeForwarderHttpClientFactory(TopologyMonitor monitor, ILogger<ForwarderHttpClientFactory> logger, PrivateCaValidator? validator = null)
    : ForwarderHttpClientFactory(logger)
{
    protected override void ConfigureHandler(ForwarderHttpClientContext context, SocketsHttpHandler handler)
    {
        base.ConfigureHandler(context, handler);
        validator?.Apply(handler);
    }

    protected override HttpMessageHandler WrapHandler(ForwarderHttpClientContext context, HttpMessageHandler handler) =>
        base.WrapHandler(context, new DeposedLeaderHandler(monitor.LeaderTenure) { InnerHandler = handler });
}
