using AspireCache.Client;
using AspireCache.Console.Options;
using Microsoft.Extensions.Options;

namespace AspireCache.Console.Services;

/// <summary>Builds an operator's connection to the cluster: a client and the extra calls, both carrying that operator's key.</summary>
internal sealed class OperatorConnections(IHttpClientFactory httpClients, ClusterEndpoint endpoint, IOptions<ConsoleOptions> options, ILoggerFactory loggers, LimitsSource limits)
{
    private readonly ILogger _logger = loggers.CreateLogger("AspireCache.Console.Services.ClusterApi");

    /// <summary>An <see cref="IAspireCacheClient"/> that sends <paramref name="key"/> with every call.</summary>
    public IAspireCacheClient Client(string key) =>
        new AspireCacheClient(() => httpClients.CreateClient(ClusterEndpoint.HttpClientName), endpoint.ClientOptions(key));

    /// <summary>The calls the client does not offer, with <paramref name="key"/>.</summary>
    public IClusterApi Cluster(string key) =>
        new ClusterApi(() => httpClients.CreateClient(ClusterEndpoint.HttpClientName), key, options.Value.NodeCallTimeout, _logger, limits);
}
