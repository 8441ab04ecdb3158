using Yarp.ReverseProxy.Forwarder;

namespace AspireCache.Router.Routing;

/// <summary>
/// YARP's connections to the nodes, trusting the private CA of the TLS option
/// (<c>Tls:CaCertificatePath</c>): the proxy builds its own handlers, not through IHttpClientFactory,
/// so <see cref="TlsTrust"/>'s HttpClient defaults do not reach it.
/// </summary>
internal sealed class PrivateCaForwarderHttpClientFactory(PrivateCaValidator validator, ILogger<ForwarderHttpClientFactory> logger)
    : ForwarderHttpClientFactory(logger)
{
    protected override void ConfigureHandler(ForwarderHttpClientContext context, SocketsHttpHandler handler)
    {
        base.ConfigureHandler(context, handler);
        validator.Apply(handler);
    }
}
