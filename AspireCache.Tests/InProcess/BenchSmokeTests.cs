using AspireCache.Bench;

namespace AspireCache.Tests.InProcess;

/// <summary>The benchmark tool itself works end to end (a tiny run; real numbers come from bench/).</summary>
[Collection(InProcessCollection.Name)]
public sealed class BenchSmokeTests
{
    [Fact]
    public async Task A_short_mixed_run_through_the_router_measures_reads_and_writes_without_errors()
    {
        // Auth on, as deployed: the tool sends its key as a bearer token (--api-key).
        await using var cluster = await InProcessCluster.StartAsync();
        await using var router = await InProcessRouter.StartAsync(cluster);
        using (var client = router.Client())
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            while (!(await client.PutAsync("/cache/bench-smoke/ready", new StringContent("1"), cts.Token)).IsSuccessStatusCode)
            {
                await Task.Delay(50, cts.Token);
            }
        }

        var options = new BenchOptions
        {
            Targets = [router.Url],
            Connections = 4,
            Duration = TimeSpan.FromSeconds(2),
            Warmup = TimeSpan.FromMilliseconds(200),
            ReadFraction = 0.5,
            MixSpecified = true,
            Keys = 50,
            ValueSize = 32,
            Preload = true,
            ApiKey = InProcessCluster.DefaultAdminKey,
        };

        var result = await BenchRunner.RunAsync(options, TextWriter.Null, CancellationToken.None);

        Assert.Equal(0, result.TotalErrors);
        Assert.True(result.TotalOperations > 0);
        Assert.True(result.Operations["read"].Count > 0 && result.Operations["write"].Count > 0);
        Assert.True(result.Total.P99Ms > 0);
    }

    [Fact]
    public async Task Snapshot_mode_loads_keys_snapshots_the_leader_and_reports_the_write_gaps()
    {
        await using var cluster = await InProcessCluster.StartAsync(InProcessCluster.AuthOff()); // auth off here; the mixed run above covers --api-key
        var leader = await cluster.WaitForLeaderAsync(TimeSpan.FromSeconds(10));
        var options = new BenchOptions
        {
            Mode = BenchMode.Snapshot,
            Targets = [cluster.Urls[leader]],
            Connections = 2,
            Duration = TimeSpan.FromMilliseconds(700),
            Warmup = TimeSpan.Zero,
            Keys = 3000,
            ValueSize = 64,
        };

        var result = await SnapshotRunner.RunAsync(options, TextWriter.Null, CancellationToken.None);

        Assert.True(result.SnapshotSucceeded);
        Assert.True(result.WritesBefore > 0);
        var status = await cluster.StatusAsync(leader);
        Assert.True(status.SnapshotIndex > 0);
        Assert.True(status.Keys >= 3000, $"{status.Keys} keys after loading 3000");
    }
}
