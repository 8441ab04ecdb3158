using System.Net;
using System.Net.Http.Json;
using AspireCache.Node.Eviction;
using AspireCache.Node.Raft;
using AspireCache.Node.StateMachine;

namespace AspireCache.Tests.InProcess;

/// <summary>Issue #15 over HTTP: the access table, read waiters and the snapshot command stay bounded and answer properly.</summary>
[Collection(InProcessCollection.Name)]
public sealed class ClusterBoundsTests
{
    [Fact]
    public async Task Made_up_access_reports_cannot_grow_the_leaders_table_and_deleted_keys_leave_it()
    {
        await using var cluster = await InProcessCluster.StartAsync(new Dictionary<string, string?>
        {
            ["Cache:Eviction:Interval"] = "00:00:00.050",
            [AccessTracker.MaxTrackedKeysKey] = "100",
        });
        var leader = await cluster.WaitForLeaderAsync(TimeSpan.FromSeconds(10));
        var follower = (leader + 1) % 3;
        var tracker = cluster.Service<AccessTracker>(leader);
        using var client = cluster.Client(leader);
        using var followerClient = cluster.Client(follower);

        // 20,000 made-up names, posted by anyone: nothing recorded.
        var madeUp = Enumerable.Range(0, 20_000).Select(i => "made-up/" + i).ToList();
        using (var peer = cluster.PeerClient(follower))
        {
            peer.BaseAddress = cluster.PeerUrls[leader]; // made-up names from a signed peer: still nothing recorded
            (await peer.PostAsJsonAsync("/cluster/access", madeUp)).EnsureSuccessStatusCode();
        }

        Assert.Equal(0, tracker.Count);

        // Real keys read through a follower reach the leader; the follower keeps no table.
        for (var i = 0; i < 5; i++)
        {
            (await client.PutAsync($"/cache/real/{i}", new StringContent("v"))).EnsureSuccessStatusCode();
        }

        await PollAsync(async () =>
        {
            for (var i = 0; i < 5; i++)
            {
                await followerClient.GetStringAsync($"/cache/real/{i}?consistent=true");
            }

            return tracker.Count == 5;
        });
        Assert.Equal(0, cluster.Service<AccessTracker>(follower).Count);

        // More keys than the bound: the table stops at it.
        for (var i = 0; i < 150; i++)
        {
            (await client.PutAsync($"/cache/many/{i}", new StringContent("v"))).EnsureSuccessStatusCode();
            await client.GetStringAsync($"/cache/many/{i}");
        }

        Assert.Equal(100, tracker.Count);

        // Deleted keys leave the table.
        for (var i = 0; i < 5; i++)
        {
            (await client.DeleteAsync($"/cache/real/{i}")).EnsureSuccessStatusCode();
        }

        await PollAsync(() => Task.FromResult(tracker.LastAccess("real/0", -1) == -1 && tracker.Count == 95));
    }

    [Fact]
    public async Task Reads_beyond_the_waiter_bound_answer_503_overloaded_with_Retry_After()
    {
        await using var cluster = await InProcessCluster.StartAsync(new Dictionary<string, string?>
        {
            ["Cluster:FaultInjection"] = "true",
            ["Cluster:ReadIndexTimeout"] = "00:00:10",
            [ReadIndexService.MaxReadWaitersKey] = "2",
        });
        var leader = await cluster.WaitForLeaderAsync(TimeSpan.FromSeconds(10));
        var follower = (leader + 1) % 3;
        using var client = cluster.Client(leader);
        (await client.PutAsync("/cache/k", new StringContent("v"))).EnsureSuccessStatusCode();
        var readIndex = cluster.Service<ReadIndexService>(follower);

        // A follower cut off from everyone cannot get a read index: its reads wait.
        await PartitionTests.Partition(cluster, [[follower], [.. Enumerable.Range(0, 3).Where(i => i != follower)]]);
        using var followerClient = cluster.Client(follower);
        var waiting = new[] { followerClient.GetAsync("/cache/k"), followerClient.GetAsync("/cache/k") };
        await PollAsync(() => Task.FromResult(readIndex.Waiting == 2));

        using var refused = await followerClient.GetAsync("/cache/k");

        Assert.Equal(HttpStatusCode.ServiceUnavailable, refused.StatusCode);
        Assert.True(refused.Headers.RetryAfter is not null, "Retry-After missing");
        Assert.Contains("problems/overloaded", await refused.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal(2, readIndex.Waiting);

        await PartitionTests.Heal(cluster);
        foreach (var read in await Task.WhenAll(waiting))
        {
            read.Dispose();
        }

        await PollAsync(() => Task.FromResult(readIndex.Waiting == 0));
    }

    [Fact]
    public async Task A_snapshot_that_does_not_complete_in_time_answers_503_timeout_with_Retry_After()
    {
        await using var cluster = await InProcessCluster.StartAsync();
        var leader = await cluster.WaitForLeaderAsync(TimeSpan.FromSeconds(10));
        var stateMachine = cluster.Service<CacheStateMachine>(leader);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        stateMachine.BeforeSnapshotWrite = token => release.Task.WaitAsync(token);
        using var client = cluster.Client(leader);
        try
        {
            using var response = await client.PostAsync("/admin/snapshot?waitMs=300", null);

            Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
            Assert.True(response.Headers.RetryAfter is not null, "Retry-After missing");
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
            Assert.Contains("problems/timeout", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }
        finally
        {
            release.TrySetResult();
        }
    }

    private static async Task PollAsync(Func<Task<bool>> condition)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(15);
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "condition not reached within 15 s");
            await Task.Delay(25);
        }
    }
}
