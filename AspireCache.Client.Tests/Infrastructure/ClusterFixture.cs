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
