using System.Diagnostics;
using System.Net;
using AspireCache.Router.Routing;
using AspireCache.Router.Topology;

namespace AspireCache.Tests.Unit;

/// <summary>
/// A write (or a read batch) in flight to a leader the router saw replaced is abandoned (<see cref="LeaderTenure"/>,
/// <see cref="DeposedLeaderHandler"/>), so that it goes on to the new leader (its reads to healthy nodes)
/// instead of waiting for a paused or frozen process.
/// </summary>
public sealed class DeposedLeaderTests
{
    [Fact]
    public void A_tenure_ends_when_another_leader_is_named_not_while_none_is()
    {
        var tenure = new LeaderTenure();
        var topology = new Topology("node1");
        tenure.Published(topology.WriteLeader);
        var node1 = tenure.Of("node1", topology);
        Assert.False(node1.IsCancellationRequested);

        tenure.Published(topology.WriteLeader = null); // an election under way: node1 may still win it
        Assert.False(node1.IsCancellationRequested);
        Assert.False(tenure.Of("node1", topology).IsCancellationRequested);

        tenure.Published(topology.WriteLeader = "node2");
        Assert.True(SpinWait.SpinUntil(() => node1.IsCancellationRequested, TimeSpan.FromSeconds(5))); // cancelled on the pool
        Assert.True(tenure.Of("node1", topology).IsCancellationRequested); // asked afterwards: ended at once
        Assert.False(tenure.Of("node2", topology).IsCancellationRequested);

        tenure.Published(topology.WriteLeader = "node1"); // node1 leads again, a new tenure
        Assert.False(tenure.Of("node1", topology).IsCancellationRequested);
    }

    [Fact]
    public async Task A_write_hanging_on_a_leader_fails_as_deposed_when_another_is_named()
    {
        var (tenure, topology, client) = Leading("node1", new HangingPeer());
        using var _ = client;

        var write = client.SendAsync(Write("node1"));
        await Task.Delay(100);
        Assert.False(write.IsCompleted); // still waiting on node1, which answers nothing

        var elapsed = Stopwatch.StartNew();
        tenure.Published(topology.WriteLeader = "node2");
        var deposed = await Assert.ThrowsAsync<DeposedLeaderException>(() => write);
        Assert.InRange(elapsed.Elapsed, TimeSpan.Zero, TimeSpan.FromSeconds(5));
        Assert.Contains("node1 is no longer the leader", deposed.Message);

        // Sent to node1 now: fails at once, without reaching it.
        await Assert.ThrowsAsync<DeposedLeaderException>(() => client.SendAsync(Write("node1")));
    }

    [Fact]
    public async Task Requests_that_name_no_leader_and_writes_to_the_leader_pass_unchanged()
    {
        using var client = Leading("node2", new Answers()).Client;

        Assert.Equal(HttpStatusCode.OK, (await client.SendAsync(Write("node2"))).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("http://node1/cache/k")).StatusCode); // a read: no leader named on it
    }

    /// <summary>A router's tenures with <paramref name="leader"/> named write leader, and a client through <see cref="DeposedLeaderHandler"/> to <paramref name="peer"/>.</summary>
    private static (LeaderTenure Tenure, Topology Topology, HttpClient Client) Leading(string leader, HttpMessageHandler peer)
    {
        var tenure = new LeaderTenure();
        var topology = new Topology(leader);
        tenure.Published(topology.WriteLeader);
        return (tenure, topology, new HttpClient(new DeposedLeaderHandler(node => tenure.Of(node, topology)) { InnerHandler = peer }));
    }

    private static HttpRequestMessage Write(string leader)
    {
        var request = new HttpRequestMessage(HttpMethod.Put, $"http://{leader}/cache/k") { Content = new StringContent("v") };
        request.Options.Set(DeposedLeaderHandler.Leader, leader);
        return request;
    }

    [Fact]
    public void A_read_batch_carries_the_tenure_only_when_sent_to_the_write_leader()
    {
        var topology = new Topology("node1");
        Assert.Equal("node1", ReadCoalescer.AtWriteLeader("node1", topology.Current));
        Assert.Equal("node1", ReadCoalescer.AtWriteLeader("node1[http://127.0.0.1:7001]", topology.Current)); // a discovered destination
        Assert.Null(ReadCoalescer.AtWriteLeader("node2", topology.Current)); // a follower's batch is never abandoned by a leader change

        topology.WriteLeader = null; // an election: no tenure to end
        Assert.Null(ReadCoalescer.AtWriteLeader("node1", topology.Current));
    }

    /// <summary>The router's topology, reduced to the write leader it names.</summary>
    private sealed class Topology(string? writeLeader) : ITopologySource
    {
        public string? WriteLeader { get; set; } = writeLeader;

        public ClusterTopology Current => new(System.Collections.Frozen.FrozenDictionary<string, NodeView>.Empty, WriteLeader, term: 1);
    }

    private sealed class Answers : HttpMessageHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
            Task.FromResult(new HttpResponseMessage(HttpStatusCode.OK));
    }
}
