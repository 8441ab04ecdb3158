using AspireCache.Console.Options;
using AspireCache.Console.Tests.Support;
using AspireCache.Contracts;
using AspireCache.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace AspireCache.Console.Tests.Unit;

/// <summary>The console explains the cluster's own request limits, not a copy kept by hand.</summary>
public sealed class LimitsSourceTests
{
    [Fact]
    public void Until_a_node_publishes_its_limits_the_configured_ones_apply_then_the_clusters_with_the_consoles_warning_share()
    {
        var source = new LimitsSource(Microsoft.Extensions.Options.Options.Create(new CacheLimits { MaxValueBytes = 100, WarnAt = 0.5 }));
        Assert.Equal(100, source.Current.MaxValueBytes);
        Assert.False(source.FromCluster);

        source.Observe(null); // a node that publishes none
        Assert.False(source.FromCluster);

        source.Observe(new RequestLimits(MaxValueBytes: 2048, MaxKeyBytes: 64, MaxBatchKeys: 10, MaxBatchBytes: 4096, MaxTtlSeconds: 3600, MaxListLimit: 100));
        Assert.True(source.FromCluster);
        Assert.Equal(2048, source.Current.MaxValueBytes);
        Assert.Equal(64, source.Current.MaxKeyBytes);
        Assert.Equal(10, source.Current.MaxBatchKeys);
        Assert.Equal(4096, source.Current.MaxBatchBytes);
        Assert.Equal(TimeSpan.FromHours(1), source.Current.MaxTtl);
        Assert.Equal(0.5, source.Current.WarnAt);
    }

    [Fact]
    public async Task The_console_learns_the_limits_the_nodes_are_configured_with_from_their_status()
    {
        await using var cluster = await InProcessCluster.StartAsync(new Dictionary<string, string?>
        {
            ["Cache:Limits:MaxValueBytes"] = "2048",
            ["Cache:Limits:MaxKeyBytes"] = "100",
            ["Cache:Limits:MaxTtl"] = "01:00:00",
        });
        await using var router = await InProcessRouter.StartAsync(cluster);
        await using var console = await InProcessConsole.StartAsync(router.Url, InProcessCluster.DefaultAdminKey);
        var source = console.Services.GetRequiredService<LimitsSource>();
        Assert.Equal(new CacheLimits().MaxValueBytes, source.Current.MaxValueBytes); // the configured defaults

        // The readiness check reads /cluster/status with the console's key; the node's answer carries its limits.
        using var http = new HttpClient { BaseAddress = console.Url };
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (!source.FromCluster)
        {
            await http.GetAsync("/health", cts.Token);
            if (!source.FromCluster)
            {
                await Task.Delay(100, cts.Token);
            }
        }

        Assert.Equal(2048, source.Current.MaxValueBytes);
        Assert.Equal(100, source.Current.MaxKeyBytes);
        Assert.Equal(TimeSpan.FromHours(1), source.Current.MaxTtl);
    }
}
