namespace AspireCache.Tests.InProcess;

/// <summary>An in-process router that already follows a leader, and a client of it (the cluster's credential).</summary>
internal sealed class ReadyRouter : IAsyncDisposable
{
    private ReadyRouter(InProcessRouter router)
    {
        Router = router;
        Client = router.Client();
    }

    public InProcessRouter Router { get; }

    public HttpClient Client { get; }

    public static async Task<ReadyRouter> StartAsync(InProcessCluster cluster, IDictionary<string, string?>? overrides = null)
    {
        var ready = new ReadyRouter(await InProcessRouter.StartAsync(cluster, overrides));
        await RouterFailoverTests.WaitForRouterLeaderAsync(ready.Client);
        return ready;
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await Router.DisposeAsync();
    }
}
