namespace AspireCache.Client.Tests.Infrastructure;

/// <summary>
/// All client test classes run one after another (each starts a 3-node cluster; the box has 2 cores).
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ClientClusterCollection
{
    public const string Name = "client-cluster";
}

/// <summary>One in-process 3-node cluster + router per test class.</summary>
public class ClusterFixture : IAsyncLifetime
{
    public InProcessCluster Cluster { get; private set; } = null!;

    public InProcessRouter Router { get; private set; } = null!;

    /// <summary>Cluster settings of this fixture (overridden by subclasses).</summary>
    protected virtual IDictionary<string, string?>? Overrides => null;

    /// <summary>
    /// A client pointed at the router; watches need an infinite HttpClient timeout. It sends the
    /// cluster's admin key unless <paramref name="options"/> names a credential.
    /// </summary>
    public AspireCacheClient NewClient(AspireCacheClientOptions? options = null) =>
        new(new HttpClient { BaseAddress = Router.Url, Timeout = Timeout.InfiniteTimeSpan }, WithCredential(options));

    /// <summary><paramref name="options"/> (or new ones) with <see cref="AspireCacheClientOptions.Credential"/> set to the cluster's key if unset.</summary>
    public AspireCacheClientOptions WithCredential(AspireCacheClientOptions? options = null)
    {
        options ??= new AspireCacheClientOptions();
        options.Credential ??= Cluster.Credential;
        return options;
    }

    /// <summary>
    /// A client in direct mode (its nodes the cluster's) or through the router, over <paramref name="handler"/>,
    /// with the cluster's key unless <paramref name="options"/> names one; in direct mode, once it knows the leader.
    /// </summary>
    public async Task<AspireCacheClient> NewClientAsync(bool direct, HttpMessageHandler handler, AspireCacheClientOptions options)
    {
        var http = new HttpClient(handler) { Timeout = Timeout.InfiniteTimeSpan };
        if (direct)
        {
            options.Nodes = [.. Cluster.Urls];
        }
        else
        {
            http.BaseAddress = Router.Url;
        }

        var client = new AspireCacheClient(http, WithCredential(options));
        var deadline = DateTime.UtcNow.AddSeconds(15);
        while (direct && client.Direct!.Leader is null)
        {
            Assert.True(DateTime.UtcNow < deadline, "direct mode never learnt the leader");
            await Task.Delay(20);
        }

        return client;
    }

    /// <summary>The connection string of the router with the cluster's key (<c>Endpoint=…;Key=…</c>), as the AppHost gives it.</summary>
    public string ConnectionString => $"Endpoint={Router.Url};Key={Cluster.Credential}";

    public async Task InitializeAsync()
    {
        Cluster = await InProcessCluster.StartAsync(Overrides);
        Router = await InProcessRouter.StartAsync(Cluster);
    }

    public async Task DisposeAsync()
    {
        await Router.DisposeAsync();
        await Cluster.DisposeAsync();
    }
}

/// <summary>A cluster whose watch history keeps few events, so that an old resume point is answered 410.</summary>
public sealed class ShortHistoryClusterFixture : ClusterFixture
{
    protected override IDictionary<string, string?>? Overrides => new Dictionary<string, string?>
    {
        ["Watch:HistoryMaxEvents"] = "64",
    };
}

/// <summary>Records the method and URI of every request the client sends.</summary>
public sealed class RequestCapture(System.Collections.Concurrent.ConcurrentQueue<(HttpMethod, Uri)> seen) : DelegatingHandler
{
    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        seen.Enqueue((request.Method, request.RequestUri!));
        return base.SendAsync(request, cancellationToken);
    }
}
