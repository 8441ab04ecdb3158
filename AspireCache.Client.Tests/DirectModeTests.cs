using System.Collections.Concurrent;
using System.Text;
using AspireCache.Client.Tests.Infrastructure;

namespace AspireCache.Client.Tests;

/// <summary>Direct mode: no router; writes and linearizable reads to the leader learnt from /cluster/watch, stale reads to the nearest node, failover followed.</summary>
[Collection(ClientClusterCollection.Name)]
public sealed class DirectModeTests(ClusterFixture fixture) : IClassFixture<ClusterFixture>
{
    private (AspireCacheClient Client, ConcurrentQueue<(HttpMethod Method, Uri Url)> Seen) NewDirectClient()
    {
        var seen = new ConcurrentQueue<(HttpMethod, Uri)>();
        var http = new HttpClient(new RequestCapture(seen) { InnerHandler = new SocketsHttpHandler() }) { Timeout = Timeout.InfiniteTimeSpan };
        var client = new AspireCacheClient(http, fixture.WithCredential(new AspireCacheClientOptions { Nodes = [.. fixture.Cluster.Urls], Deadline = TimeSpan.FromSeconds(15) }));
        return (client, seen);
    }

    private static async Task<Uri> WaitForLeaderAsync(AspireCacheClient client)
    {
        var deadline = DateTime.UtcNow.AddSeconds(15);
        while (true)
        {
            if (client.Direct!.Leader is { } leader)
            {
                return leader;
            }

            Assert.True(DateTime.UtcNow < deadline, "direct mode never learnt the leader");
            await Task.Delay(20);
        }
    }

    [Fact]
    public async Task Writes_and_linearizable_reads_go_straight_to_the_leader_and_stale_reads_to_one_node_without_the_router()
    {
        var (client, seen) = NewDirectClient();
        await using var _ = client;
        var leader = await WaitForLeaderAsync(client);
        var leaderIndex = await fixture.Cluster.WaitForLeaderAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(fixture.Cluster.Urls[leaderIndex].Authority, leader.Authority);

        seen.Clear();
        for (var i = 0; i < 20; i++)
        {
            var version = await client.SetAsync("direct/k", Encoding.UTF8.GetBytes($"{i}"));
            var read = await client.GetAsync("direct/k");
            Assert.Equal($"{i}", Encoding.UTF8.GetString(read!.Value.Span));
            Assert.Equal(version, read.Version);
            await fixture.Cluster.WaitUntilAppliedAsync(version, TimeSpan.FromSeconds(10)); // a stale read may go to any node
            Assert.NotNull(await client.GetAsync("direct/k", new ReadOptions { Consistency = Consistency.Stale }));
        }

        var calls = seen.Where(s => s.Url.AbsolutePath.StartsWith("/cache/direct", StringComparison.Ordinal)).ToList();
        Assert.All(calls.Where(c => c.Method == HttpMethod.Put), c => Assert.Equal(leader.Authority, c.Url.Authority));
        var reads = calls.Where(c => c.Method == HttpMethod.Get).ToList();
        Assert.Equal(40, reads.Count);
        Assert.All(reads.Where(c => !c.Url.Query.Contains("consistent=false", StringComparison.Ordinal)), c => Assert.Equal(leader.Authority, c.Url.Authority));
        Assert.Single(reads.Where(c => c.Url.Query.Contains("consistent=false", StringComparison.Ordinal)).Select(c => c.Url.Authority).Distinct());
        Assert.DoesNotContain(calls, c => c.Url.Authority == fixture.Router.Url.Authority);
    }

    [Fact]
    public async Task Direct_mode_follows_a_new_leader_when_the_leader_stops_and_loses_no_acknowledged_write()
    {
        var (client, _) = NewDirectClient();
        await using var __ = client;
        var oldLeader = await WaitForLeaderAsync(client);
        var leaderIndex = await fixture.Cluster.WaitForLeaderAsync(TimeSpan.FromSeconds(10));
        var acknowledged = new List<(string Key, long Version)>();
        await fixture.Cluster.StopNodeAsync(leaderIndex);
        try
        {
            for (var i = 0; i < 20; i++)
            {
                var key = $"direct/failover/{i}";
                acknowledged.Add((key, await client.SetAsync(key, Encoding.UTF8.GetBytes($"{i}"))));
            }

            var deadline = DateTime.UtcNow.AddSeconds(15);
            while (client.Direct!.Leader is not { } now || now.Authority == oldLeader.Authority)
            {
                Assert.True(DateTime.UtcNow < deadline, "direct mode never learnt the new leader");
                await Task.Delay(20);
            }

            foreach (var (key, version) in acknowledged)
            {
                Assert.Equal(version, (await client.GetAsync(key))!.Version);
            }
        }
        finally
        {
            await fixture.Cluster.StartNodeAsync(leaderIndex);
        }
    }

    [Fact]
    public async Task A_near_cache_in_direct_mode_stays_linearizable()
    {
        await using var client = new AspireCacheClient(
            new HttpClient { Timeout = Timeout.InfiniteTimeSpan },
            fixture.WithCredential(new AspireCacheClientOptions { Nodes = [.. fixture.Cluster.Urls], NearCache = new NearCacheOptions { Prefixes = ["direct/near/"] } }));
        var writer = fixture.NewClient();
        var read = new ReadOptions { Consistency = Consistency.LinearizableNearCache };
        for (var i = 0; i < 20; i++)
        {
            await writer.SetAsync("direct/near/k", Encoding.UTF8.GetBytes($"{i}"));
            Assert.Equal($"{i}", Encoding.UTF8.GetString((await client.GetAsync("direct/near/k", read))!.Value.Span));
        }

        Assert.True(Interlocked.Read(ref client.NearCache!.Store.Hits) + Interlocked.Read(ref client.NearCache.Probes.Sent) > 0);
    }
}
