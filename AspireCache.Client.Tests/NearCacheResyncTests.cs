using System.Text;
using AspireCache.Client.Tests.Infrastructure;

namespace AspireCache.Client.Tests;

/// <summary>
/// A near cache whose node was away longer than the watch history reaches: the stream comes back with
/// 410, the cache is replaced by a fresh listing (resync), and reads never see the old value.
/// </summary>
/// <remarks>
/// The client's network is held down until the restarted node has caught up. Without that, the
/// client may resume on the node before it has applied the missed changes; the node then accepts the
/// resume point and streams the changes live, which is correct but is not the case under test.
/// </remarks>
[Collection(ClientClusterCollection.Name)]
public sealed class NearCacheResyncTests(ShortHistoryClusterFixture fixture) : IClassFixture<ShortHistoryClusterFixture>
{
    [Fact]
    public async Task After_an_outage_longer_than_the_history_the_near_cache_resyncs_and_serves_the_new_values()
    {
        var cluster = fixture.Cluster;
        var leader = await cluster.WaitForLeaderAsync(TimeSpan.FromSeconds(10));
        var follower = (leader + 1) % 3;
        var prefix = $"near-resync/{Guid.NewGuid():N}/";
        var writer = fixture.NewClient();
        await writer.SetAsync(prefix + "k", "old"u8.ToArray());

        // Direct mode on one follower only: its stream cannot move to another node.
        var network = new Gate();
        await using var reader = new AspireCacheClient(
            new HttpClient(network) { Timeout = Timeout.InfiniteTimeSpan },
            fixture.WithCredential(new AspireCacheClientOptions { Nodes = [cluster.Urls[follower]], Deadline = TimeSpan.FromSeconds(20), NearCache = new NearCacheOptions { Prefixes = [prefix] } }));
        var read = new ReadOptions { Consistency = Consistency.LinearizableNearCache };
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (!reader.NearCache!.Store.TryGet(prefix + "k", out _))
        {
            Assert.Equal("old", Encoding.UTF8.GetString((await reader.GetAsync(prefix + "k", read))!.Value.Span));
            Assert.True(DateTime.UtcNow < deadline, "the key was never cached");
            await Task.Delay(20);
        }

        network.Down = true;
        await cluster.StopNodeAsync(follower);
        long revision;
        try
        {
            // More changes than the 64-event history keeps, while the follower is away.
            await writer.SetAsync(prefix + "k", "new"u8.ToArray());
            for (var i = 0; i < 100; i++)
            {
                await writer.SetAsync($"{prefix}filler/{i}", "f"u8.ToArray());
            }

            revision = (await cluster.StatusAsync(leader)).Revision;
        }
        finally
        {
            await cluster.StartNodeAsync(follower);
        }

        while ((await cluster.StatusAsync(follower)).Revision < revision)
        {
            Assert.True(DateTime.UtcNow < deadline.AddSeconds(20), "the restarted node never caught up");
            await Task.Delay(20);
        }

        network.Down = false;

        while (Interlocked.Read(ref reader.NearCache.Store.Resyncs) == 0)
        {
            Assert.True(DateTime.UtcNow < deadline.AddSeconds(20), "the near cache never resynced");
            await Task.Delay(20);
        }

        Assert.Equal("new", Encoding.UTF8.GetString((await reader.GetAsync(prefix + "k", read))!.Value.Span));
        Assert.Equal("f", Encoding.UTF8.GetString((await reader.GetAsync(prefix + "filler/99", read))!.Value.Span));
    }

    /// <summary>The client's side of the network: while <see cref="Down"/>, every request fails to connect.</summary>
    private sealed class Gate() : DelegatingHandler(new SocketsHttpHandler())
    {
        public volatile bool Down;

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) =>
            Down ? Task.FromException<HttpResponseMessage>(new HttpRequestException("network down (test)")) : base.SendAsync(request, cancellationToken);
    }
}
