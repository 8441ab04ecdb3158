using AspireCache.Node.Faults;
using System.Net;
using System.Net.Http.Json;

namespace AspireCache.Tests.InProcess;

/// <summary>Network partitions through the transport's fault-injection switch (enabled by configuration only).</summary>
[Collection(InProcessCollection.Name)]
public sealed class PartitionTests
{
    public static readonly Dictionary<string, string?> FaultSettings = new()
    {
        ["Cluster:FaultInjection"] = "true",
        ["Cluster:ReadIndexTimeout"] = "00:00:01.500",
        ["Cluster:WriteTimeout"] = "00:00:01.500",
    };

    [Fact]
    public async Task An_isolated_leader_refuses_while_the_majority_elects_and_serves_and_healing_converges()
    {
        await using var cluster = await InProcessCluster.StartAsync(FaultSettings);
        var leader = await cluster.WaitForLeaderAsync(TimeSpan.FromSeconds(10));
        using (var client = cluster.Client(leader))
        {
            (await client.PutAsync("/cache/partition/k", new StringContent("before"))).EnsureSuccessStatusCode();
        }

        await Partition(cluster, [[leader], [.. Enumerable.Range(0, 3).Where(i => i != leader)]]);

        // The minority (the old leader) cannot confirm anything.
        using var isolated = cluster.Client(leader);
        var write = await isolated.PutAsync("/cache/partition/k", new StringContent("lost?"));
        var read = await isolated.GetAsync("/cache/partition/k");
        var stale = await isolated.GetAsync("/cache/partition/k?consistent=false");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, write.StatusCode);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, read.StatusCode);
        Assert.NotNull(read.Headers.RetryAfter);
        Assert.Equal(HttpStatusCode.OK, stale.StatusCode);

        // The majority elects a leader and serves linearizable reads and writes.
        var majority = Enumerable.Range(0, 3).Where(i => i != leader).ToArray();
        var newLeader = await WaitForLeaderAmongAsync(cluster, majority);
        using (var client = cluster.Client(newLeader))
        {
            (await client.PutAsync("/cache/partition/k", new StringContent("after"))).EnsureSuccessStatusCode();
            Assert.Equal("after", await client.GetStringAsync("/cache/partition/k"));
        }

        using (var other = cluster.Client(majority.Single(i => i != newLeader)))
        {
            Assert.Equal("after", await other.GetStringAsync("/cache/partition/k"));
        }

        // Heal: all three converge on the majority's history; the isolated write never appears
        // unless the majority committed it (it could not: the old leader never reached a quorum).
        await Heal(cluster);
        await cluster.WaitForLeaderAsync(TimeSpan.FromSeconds(15));
        Assert.Equal("after", await isolated.GetStringAsync("/cache/partition/k"));
        var statuses = await Task.WhenAll(Enumerable.Range(0, 3).Select(cluster.StatusAsync));
        Assert.Single(statuses.Select(s => s.Revision).Distinct());
    }

    [Fact]
    public async Task A_hung_leader_is_replaced_by_the_majority()
    {
        // A hung leader (paused, frozen, its packets dropped) neither sends nor answers, and is not refused
        // either: every request to it waits for the Raft client's timeout (1 s), longer than any voting
        // timeout (300-600 ms here). DotNext's candidate waits for every vote, so unless the vote request
        // to the hung node fails first (VoteDeadlineHandler), no election completes while it hangs; and the
        // new leader's first round, refused by the live follower, would wait for the hung node's 1 s timeout
        // before the second unless the node that missed its vote deadline gets that deadline again.
        using var ready = new LeadershipReadyTimes();
        await using var cluster = await InProcessCluster.StartAsync(FaultSettings);
        var leader = await cluster.WaitForLeaderAsync(TimeSpan.FromSeconds(10));
        using (var client = cluster.Client(leader))
        {
            (await client.PutAsync("/cache/hung/k", new StringContent("before"))).EnsureSuccessStatusCode();
        }

        ready.Own(cluster, except: leader);

        var majority = Enumerable.Range(0, 3).Where(i => i != leader).ToArray();
        cluster.Service<PartitionState>(leader).Stall(majority.Select(i => InProcessCluster.Ids[i]));
        foreach (var node in majority)
        {
            cluster.Service<PartitionState>(node).Stall([InProcessCluster.Ids[leader]]);
        }

        var newLeader = await WaitForLeaderAmongAsync(cluster, majority);
        using (var client = cluster.Client(newLeader))
        {
            Assert.Equal("before", await client.GetStringAsync("/cache/hung/k"));
            (await client.PutAsync("/cache/hung/k", new StringContent("after"))).EnsureSuccessStatusCode();
        }

        // Ready (its first entry committed) well before the hung node's 1 s timeout would have let a second round start.
        Assert.InRange(await ready.NextAsync(TimeSpan.FromSeconds(5)), 0, 700);

        using (var other = cluster.Client(majority.Single(i => i != newLeader)))
        {
            Assert.Equal("after", await other.GetStringAsync("/cache/hung/k"));
        }

        foreach (var node in Enumerable.Range(0, 3))
        {
            cluster.Service<PartitionState>(node).Heal();
        }
    }

    [Fact]
    public async Task With_every_node_isolated_nobody_serves_linearizable_requests()
    {
        await using var cluster = await InProcessCluster.StartAsync(FaultSettings);
        await cluster.WaitForLeaderAsync(TimeSpan.FromSeconds(10));
        await Partition(cluster, [[0], [1], [2]]);

        var answers = await Task.WhenAll(Enumerable.Range(0, 3).Select(async i =>
        {
            using var client = cluster.Client(i);
            return (await client.GetAsync("/cache/partition/none")).StatusCode;
        }));

        Assert.All(answers, a => Assert.Equal(HttpStatusCode.ServiceUnavailable, a));
        await Heal(cluster);
        await cluster.WaitForLeaderAsync(TimeSpan.FromSeconds(15));
    }

    /// <summary>Cuts every link between different groups.</summary>
    internal static async Task Partition(InProcessCluster cluster, int[][] groups)
    {
        foreach (var group in groups)
        {
            var blocked = Enumerable.Range(0, cluster.NodeCount).Where(i => !group.Contains(i)).Select(i => cluster.NodeIds[i]).ToList();
            foreach (var node in group.Where(cluster.IsRunning))
            {
                using var client = cluster.Client(node);
                (await client.PutAsJsonAsync("/admin/faults/partition", new { blocked })).EnsureSuccessStatusCode();
            }
        }
    }

    internal static async Task Heal(InProcessCluster cluster)
    {
        foreach (var node in Enumerable.Range(0, cluster.NodeCount).Where(cluster.IsRunning))
        {
            using var client = cluster.Client(node);
            (await client.DeleteAsync("/admin/faults/partition")).EnsureSuccessStatusCode();
        }
    }

    private static async Task<int> WaitForLeaderAmongAsync(InProcessCluster cluster, int[] nodes)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        while (true)
        {
            foreach (var node in nodes)
            {
                var status = await cluster.StatusAsync(node);
                if (status.Role == "leader")
                {
                    return node;
                }
            }

            await Task.Delay(50, cts.Token);
        }
    }
}
