using AspireCache.Node.Faults;
using System.Diagnostics;
using System.Net;
using Xunit.Abstractions;

namespace AspireCache.Tests.InProcess;

/// <summary>The router in front of a real cluster while the leader goes away.</summary>
[Collection(InProcessCollection.Name)]
public sealed class RouterFailoverTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Writes_through_the_router_survive_losing_the_leader_none_lost_none_applied_twice()
    {
        await using var cluster = await InProcessCluster.StartAsync();
        await using var router = await InProcessRouter.StartAsync(cluster);
        using var client = router.Client();
        await WaitForRouterLeaderAsync(client);
        var leader = await cluster.WaitForLeaderAsync(TimeSpan.FromSeconds(10));
        var startRevision = (await cluster.StatusAsync(leader)).Revision;

        var acknowledged = new List<int>();
        var attempted = 0;
        var failures = new List<string>();
        var longestGap = TimeSpan.Zero;
        var lastSuccess = Stopwatch.StartNew();
        var killed = false;
        var total = Stopwatch.StartNew();
        for (var i = 0; i < 400 && total.Elapsed < TimeSpan.FromSeconds(60); i++)
        {
            if (i == 100)
            {
                await cluster.StopNodeAsync(leader);
                killed = true;
                lastSuccess.Restart(); // measure unavailability from the moment the leader is gone
            }

            attempted++;
            var response = await client.PutAsync($"/cache/router-failover/{i}", new StringContent($"v{i}"));
            if (response.IsSuccessStatusCode)
            {
                acknowledged.Add(i);
                longestGap = lastSuccess.Elapsed > longestGap ? lastSuccess.Elapsed : longestGap;
                lastSuccess.Restart();
            }
            else
            {
                failures.Add($"{i}: {(int)response.StatusCode}");
            }
        }

        Assert.True(killed);
        output.WriteLine($"attempted {attempted}, acknowledged {acknowledged.Count}, failed {failures.Count}, longest gap between acknowledged writes {longestGap.TotalMilliseconds:0} ms");
        var newLeader = await cluster.WaitForLeaderAsync(TimeSpan.FromSeconds(15));
        Assert.NotEqual(leader, newLeader);

        // Every acknowledged write is on every surviving node.
        foreach (var node in Enumerable.Range(0, 3).Where(cluster.IsRunning))
        {
            using var direct = cluster.Client(node);
            foreach (var i in acknowledged)
            {
                Assert.Equal($"v{i}", await direct.GetStringAsync($"/cache/router-failover/{i}"));
            }
        }

        // No write was applied twice: revisions advanced at most once per attempted write.
        var revisions = (await cluster.StatusAsync(newLeader)).Revision - startRevision;
        Assert.InRange(revisions, acknowledged.Count, attempted);
        Assert.True(acknowledged.Count >= attempted - 5, $"too many failed writes: {string.Join(", ", failures)}");
        Assert.True(longestGap < TimeSpan.FromSeconds(10), $"writes stalled for {longestGap}");
    }

    [Fact]
    public async Task Reads_through_the_router_move_to_another_node_when_one_is_down()
    {
        await using var cluster = await InProcessCluster.StartAsync();
        await using var router = await InProcessRouter.StartAsync(cluster);
        using var client = router.Client();
        await WaitForRouterLeaderAsync(client);
        (await client.PutAsync("/cache/router-read/k", new StringContent("v"))).EnsureSuccessStatusCode();
        var leader = await cluster.WaitForLeaderAsync(TimeSpan.FromSeconds(10));

        // Stop a follower; reads keep working whichever node the router preferred.
        await cluster.StopNodeAsync((leader + 1) % 3);
        for (var i = 0; i < 20; i++)
        {
            var response = await client.GetAsync("/cache/router-read/k");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("v", await response.Content.ReadAsStringAsync());
        }
    }

    [Fact]
    public async Task A_write_when_no_leader_can_be_found_gets_503_problem_with_retry_after()
    {
        await using var cluster = await InProcessCluster.StartAsync(new Dictionary<string, string?> { ["Cluster:WriteTimeout"] = "00:00:01" });
        await using var router = await InProcessRouter.StartAsync(cluster, new Dictionary<string, string?> { ["Router:RetryDeadline"] = "00:00:02" });
        using var client = router.Client();
        await WaitForRouterLeaderAsync(client);

        await Task.WhenAll(Enumerable.Range(0, 3).Select(cluster.StopNodeAsync));
        var response = await client.PutAsync("/cache/router-none/k", new StringContent("v"));

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.NotNull(response.Headers.RetryAfter);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public async Task A_write_proposed_to_a_leader_that_is_then_lost_is_answered_outcome_unknown_when_no_new_leader_comes()
    {
        await using var cluster = await InProcessCluster.StartAsync(new Dictionary<string, string?>
        {
            ["Cluster:WriteTimeout"] = "00:00:01",
            ["Cluster:FaultInjection"] = "true",
        });
        await using var router = await InProcessRouter.StartAsync(cluster, new Dictionary<string, string?> { ["Router:RetryDeadline"] = "00:00:03" });
        using var client = router.Client();
        await WaitForRouterLeaderAsync(client);
        (await client.PutAsync("/cache/router-unknown/warm", new StringContent("v"))).EnsureSuccessStatusCode();
        var leader = await cluster.WaitForLeaderAsync(TimeSpan.FromSeconds(10));
        var (down, cutOff) = ((leader + 1) % 3, (leader + 2) % 3);

        // One follower is down; the leader's messages to the other vanish unanswered (so it keeps leading
        // while its round waits, and takes the write), and that follower's requests to the leader fail:
        // the write is proposed and can never commit, and no new leader can be elected.
        await cluster.StopNodeAsync(down);
        cluster.Service<PartitionState>(leader).Stall([InProcessCluster.Ids[cutOff]]);
        cluster.Service<PartitionState>(cutOff).Block([InProcessCluster.Ids[leader]]);
        var response = await client.PutAsync("/cache/router-unknown/k", new StringContent("v"));
        var body = await response.Content.ReadAsStringAsync();
        output.WriteLine($"{(int)response.StatusCode}: {body}");

        // "No leader" would tell the client that nothing was done; the entry is in the leader's log and
        // commits if the leader gets its quorum back. Only "outcome unknown" is true.
        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.NotNull(response.Headers.RetryAfter);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        using var problem = System.Text.Json.JsonDocument.Parse(body);
        Assert.EndsWith("/timeout", problem.RootElement.GetProperty("type").GetString());
        Assert.Contains("outcome is unknown", problem.RootElement.GetProperty("title").GetString(), StringComparison.Ordinal);
    }

    internal static async Task WaitForRouterLeaderAsync(HttpClient client)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (true)
        {
            var topology = await client.GetStringAsync("/router/topology", cts.Token);
            if (!topology.Contains("\"leaderId\":null", StringComparison.Ordinal))
            {
                return;
            }

            await Task.Delay(50, cts.Token);
        }
    }
}
