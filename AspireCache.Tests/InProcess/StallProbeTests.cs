using AspireCache.Bench;

namespace AspireCache.Tests.InProcess;

/// <summary>
/// The bench tool's probe mode (bench/stalls.sh): every target × path is probed, and a stall counts as
/// shared exactly when it overlapped in time a stall of another probe. Real numbers come from bench/.
/// </summary>
[Collection(InProcessCollection.Name)]
public sealed class StallProbeTests
{
    [Fact]
    public async Task Probe_mode_reads_every_target_and_path_through_the_router_and_straight_from_a_node()
    {
        await using var cluster = await InProcessCluster.StartAsync();
        await using var router = await InProcessRouter.StartAsync(cluster);
        var leader = await cluster.WaitForLeaderAsync(TimeSpan.FromSeconds(30));
        var options = BenchOptions.Parse([
            "--mode", "probe",
            "--target", $"{router.Url},{cluster.Urls[leader]}",
            "--keys", "3",
            "--duration", "700ms",
            "--stall", "15ms",
            "--api-key", InProcessCluster.DefaultAdminKey,
        ]);
        Assert.Equal(["cache/{key}", "cache/{key}?consistent=false"], options.ProbePaths);
        foreach (var i in Enumerable.Range(0, 3))
        {
            leader = await cluster.PutToLeaderAsync(leader, $"/cache/bench/{i:D6}", [1, 2, 3]); // every probed key exists
        }

        using var output = new StringWriter();
        var results = await StallProbe.RunAsync(options, output, CancellationToken.None);

        Assert.Equal(4, results.Count); // two targets × two paths
        Assert.All(results, r =>
        {
            Assert.True(r.Requests > 0, r.Name);
            Assert.Equal(0, r.Errors);
            Assert.True(r.P50Ms <= r.P99Ms && r.P99Ms <= r.MaxMs, r.Name);
            Assert.All(r.Stalls, s => Assert.True(s.LatencyMs > 15, r.Name));
        });
        var text = output.ToString();
        Assert.Contains($"{router.Url.Authority}/cache/{{key}}?consistent=false", text, StringComparison.Ordinal);
        Assert.Contains("the probing process itself:", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_request_during_which_the_probing_process_paused_is_left_out_and_counted_apart()
    {
        await using var cluster = await InProcessCluster.StartAsync();
        var leader = await cluster.WaitForLeaderAsync(TimeSpan.FromSeconds(30));
        leader = await cluster.PutToLeaderAsync(leader, "/cache/bench/000000", [1]);
        var options = BenchOptions.Parse([
            "--mode", "probe",
            "--target", cluster.Urls[leader].ToString(),
            "--keys", "1",
            "--duration", "300ms",
            "--stall", "1ms",
            "--api-key", InProcessCluster.DefaultAdminKey,
        ]);

        // A pause clock that moves on every reading: every request spanned a pause of "this process".
        long ticks = 0;
        using var output = new StringWriter();
        var results = await StallProbe.RunAsync(options, output, CancellationToken.None, () => TimeSpan.FromTicks(Interlocked.Increment(ref ticks)));

        Assert.Equal(2, results.Count);
        Assert.All(results, r =>
        {
            Assert.Equal(0, r.Requests); // no latency of the cluster was measured
            Assert.True(r.OwnPauses > 0, r.Name);
            Assert.Empty(r.Stalls); // not even with a 1 ms threshold
        });
        Assert.Contains("own GC", output.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void A_stall_is_shared_when_it_overlaps_a_stall_of_another_probe()
    {
        var router = new StallProbe.ProbeResult("router", 100, 0, 1, 30, 60, [new(100, 30), new(500, 25)]);
        var leader = new StallProbe.ProbeResult("leader", 100, 0, 1, 30, 60, [new(120, 40)]); // overlaps the router's first
        var follower = new StallProbe.ProbeResult("follower", 100, 0, 1, 30, 60, [new(526, 30), new(900, 21)]); // starts after the router's second ended

        using var output = new StringWriter();
        StallProbe.Report([router, leader, follower], TimeSpan.FromMilliseconds(20), output);
        var rows = output.ToString().Split('\n').Where(l => l.Length > 0 && !l.StartsWith(' ')).ToDictionary(l => l.Split(' ')[0]);

        Assert.EndsWith(" 2       1", rows["router"].TrimEnd(), StringComparison.Ordinal);   // 2 stalls, 1 shared
        Assert.EndsWith(" 1       1", rows["leader"].TrimEnd(), StringComparison.Ordinal);   // 1 stall, shared
        Assert.EndsWith(" 2       0", rows["follower"].TrimEnd(), StringComparison.Ordinal); // 2 stalls, none shared
        Assert.Throws<ArgumentException>(() => BenchOptions.Parse(["--mode", "probe", "--stall", "fast"]));
    }
}
