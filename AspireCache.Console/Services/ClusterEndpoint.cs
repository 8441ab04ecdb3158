using AspireCache.Client;

namespace AspireCache.Console.Services;

/// <summary>
/// Where the cluster is: the connection string <c>ConnectionStrings:cache</c>
/// (<c>Endpoint=&lt;router url&gt;;Key=&lt;key&gt;</c>), parsed by the client's own
/// <see cref="AspireCacheClientSettings"/> (with <c>Aspire:AspireCache:Client</c> bound first, as
/// <c>AddAspireCacheClient</c> does). The connection string's key is the console's own: it is used
/// for the readiness check only (<see cref="ClusterHealthCheck"/>), never for an operator's action.
/// </summary>
internal sealed class ClusterEndpoint
{
    /// <summary>The named HttpClient every operator's calls go through (BaseAddress = <see cref="Url"/>, no resilience handler, no header logging).</summary>
    public const string HttpClientName = "AspireCache.Console.Cluster";

    public ClusterEndpoint(AspireCacheClientSettings settings, string connectionName)
    {
        Settings = settings;
        Url = settings.Endpoint ?? throw new InvalidOperationException(
            $"The console needs the cluster: set the connection string 'ConnectionStrings:{connectionName}' (Endpoint=<router url>;Key=<key>), as the AppHost's .WithReference(cache) does.");
    }

    /// <summary>The router's URL (or a node's).</summary>
    public Uri Url { get; }

    /// <summary>Deadline, retry delays and leader-following of every operator's client; <see cref="AspireCacheClientSettings.Key"/> is the console's own key.</summary>
    public AspireCacheClientSettings Settings { get; }

    /// <summary>Options of an operator's client: the cluster's settings with the operator's key, no near cache, no direct mode.</summary>
    public AspireCacheClientOptions ClientOptions(string operatorKey) => new()
    {
        Deadline = Settings.Deadline,
        MaxRetryDelay = Settings.MaxRetryDelay,
        FollowLeaderUrl = Settings.FollowLeaderUrl,
        Credential = operatorKey,
    };
}
