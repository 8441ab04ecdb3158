using AspireCache.Tests.InProcess;

namespace AspireCache.Tests.Watch;

/// <summary>
/// One in-process cluster (and a router in front) for the watch tests: small history and stream
/// buffers, and a memory budget small enough that the leader evicts keys, so every kind of event
/// occurs.
/// </summary>
public sealed class WatchClusterFixture : IAsyncLifetime
{
    public const int HistoryMaxEvents = 400;
    public const int WatcherBufferEvents = 64;

    public InProcessCluster Cluster { get; private set; } = null!;

    public InProcessRouter Router { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Cluster = await InProcessCluster.StartAsync(new Dictionary<string, string?>
        {
            ["Watch:HistoryMaxEvents"] = HistoryMaxEvents.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Watch:WatcherBufferEvents"] = WatcherBufferEvents.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Cache:Eviction:MemoryBudgetBytes"] = "400000",
            ["Cache:Eviction:HardLimitFactor"] = "4",
            ["Cache:Eviction:Interval"] = "00:00:00.100",
            ["Cluster:ExpiryScanInterval"] = "00:00:00.050",
        });
        Router = await InProcessRouter.StartAsync(Cluster);
    }

    public async Task DisposeAsync()
    {
        await Router.DisposeAsync();
        await Cluster.DisposeAsync();
    }
}
