using System.Text;
using AspireCache.Client.Tests.Infrastructure;
using AspireCache.Node.Watch;

namespace AspireCache.Client.Tests;

/// <summary>WatchAsync through the router: order, exactly once, and resumption after the serving node stops.</summary>
[Collection(ClientClusterCollection.Name)]
public sealed class WatchTests(ClusterFixture fixture) : IClassFixture<ClusterFixture>
{
    [Fact]
    public async Task Watch_yields_puts_and_deletes_in_revision_order_each_once()
    {
        var client = fixture.NewClient();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await using var watch = client.WatchAsync(new WatchRequest { Prefixes = ["order/"] }, cts.Token).GetAsyncEnumerator(cts.Token);
        Assert.True(await watch.MoveNextAsync());
        Assert.Equal(WatchEventType.Progress, watch.Current.Type);

        var expected = new List<(WatchEventType, string, long)>();
        for (var i = 0; i < 10; i++)
        {
            var key = $"order/{i}";
            expected.Add((WatchEventType.Put, key, await client.SetAsync(key, Encoding.UTF8.GetBytes(key))));
        }

        var batch = await client.BatchAsync(new Dictionary<string, ReadOnlyMemory<byte>> { ["order/b1"] = "1"u8.ToArray(), ["order/b2"] = "2"u8.ToArray() }, ["order/0"]);
        expected.Add((WatchEventType.Put, "order/b1", batch));
        expected.Add((WatchEventType.Put, "order/b2", batch));
        expected.Add((WatchEventType.Delete, "order/0", batch));
        await client.SetAsync("elsewhere/x", "x"u8.ToArray());
        var last = await client.SetAsync("order/last", "l"u8.ToArray());
        expected.Add((WatchEventType.Put, "order/last", last));

        var received = await ReadChangesAsync(watch, e => e.Key == "order/last");
        Assert.Equal(expected.OrderBy(e => e.Item3).ThenBy(e => e.Item2, StringComparer.Ordinal), received.Select(e => (e.Type, e.Key, e.Revision)).OrderBy(e => e.Revision).ThenBy(e => e.Key, StringComparer.Ordinal));
        Assert.Equal(received.Select(e => e.Revision).Order(), received.Select(e => e.Revision));
        Assert.Equal("order/5", Encoding.UTF8.GetString(received.Single(e => e.Key == "order/5").Value!.Value.Span));
    }

    [Fact]
    public async Task Watch_resumes_after_its_serving_node_stops_without_gap_or_duplicate()
    {
        var cluster = fixture.Cluster;
        var client = fixture.NewClient(new AspireCacheClientOptions { Deadline = TimeSpan.FromSeconds(20) });
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        await using var watch = client.WatchAsync(new WatchRequest { Prefixes = ["resume/"] }, cts.Token).GetAsyncEnumerator(cts.Token);
        Assert.True(await watch.MoveNextAsync());
        Assert.Equal(WatchEventType.Progress, watch.Current.Type);

        // The node serving this stream: the only one with a watcher once other tests' streams closed.
        int serving = -1;
        for (var waited = 0; serving < 0; waited++)
        {
            var counts = Enumerable.Range(0, 3).Select(i => cluster.IsRunning(i) ? cluster.Service<WatchService>(i).Hub.Count : 0).ToArray();
            if (counts.Sum() == 1)
            {
                serving = Array.IndexOf(counts, 1);
            }

            Assert.True(waited < 200, "no single serving node: " + string.Join(",", counts));
            await Task.Delay(25);
        }

        // Writes (puts and 3-key batches) while the serving node stops.
        var acknowledged = new Dictionary<string, long>();
        var consumer = Task.Run(() => ReadChangesAsync(watch, e => e.Key == "resume/last"));
        for (var i = 0; i < 45; i++)
        {
            if (i == 15)
            {
                _ = cluster.StopNodeAsync(serving);
            }

            if (i % 3 == 0)
            {
                string[] keys = [$"resume/b{i:D2}/1", $"resume/b{i:D2}/2", $"resume/b{i:D2}/3"];
                var revision = await client.BatchAsync(keys.ToDictionary(k => k, _ => (ReadOnlyMemory<byte>)"x"u8.ToArray()));
                keys.ToList().ForEach(k => acknowledged[k] = revision);
            }
            else
            {
                var key = $"resume/p{i:D2}";
                acknowledged[key] = await client.SetAsync(key, "x"u8.ToArray());
            }
        }

        acknowledged["resume/last"] = await client.SetAsync("resume/last", "x"u8.ToArray());
        var received = await consumer;

        Assert.False(cluster.IsRunning(serving));
        Assert.Equal(received.Count, received.Select(e => e.Key).Distinct().Count());
        Assert.Equal(acknowledged.OrderBy(p => p.Key, StringComparer.Ordinal), received.Select(e => KeyValuePair.Create(e.Key, e.Revision)).OrderBy(p => p.Key, StringComparer.Ordinal));
        Assert.Equal(received.Select(e => e.Revision).Order(), received.Select(e => e.Revision));
    }

    internal static async Task<List<WatchEvent>> ReadChangesAsync(IAsyncEnumerator<WatchEvent> watch, Func<WatchEvent, bool> until)
    {
        var received = new List<WatchEvent>();
        while (await watch.MoveNextAsync())
        {
            if (watch.Current.Type is WatchEventType.Progress or WatchEventType.Resync)
            {
                continue;
            }

            received.Add(watch.Current);
            if (until(watch.Current))
            {
                return received;
            }
        }

        throw new InvalidOperationException("The watch ended.");
    }
}

/// <summary>A resume point the history no longer holds (410): the client relists and says so.</summary>
[Collection(ClientClusterCollection.Name)]
public sealed class WatchResyncTests(ShortHistoryClusterFixture fixture) : IClassFixture<ShortHistoryClusterFixture>
{
    [Fact]
    public async Task A_compacted_resume_point_yields_Resync_then_the_listed_state_then_live_changes()
    {
        var client = fixture.NewClient();
        var start = (await client.ListPageAsync("sync/", limit: 1)).Revision;
        for (var i = 0; i < 100; i++)
        {
            await client.SetAsync($"sync/{i:D3}", Encoding.UTF8.GetBytes(i.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        }

        await client.DeleteAsync("sync/000");

        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await using var watch = client.WatchAsync(new WatchRequest { Prefixes = ["sync/"], AfterRevision = start }, cts.Token).GetAsyncEnumerator(cts.Token);
        Assert.True(await watch.MoveNextAsync());
        Assert.Equal(WatchEventType.Resync, watch.Current.Type);
        var listedAt = watch.Current.Revision;

        var state = new List<WatchEvent>();
        while (await watch.MoveNextAsync() && watch.Current.Type != WatchEventType.Progress)
        {
            state.Add(watch.Current);
        }

        Assert.Equal(WatchEventType.Progress, watch.Current.Type);
        Assert.Equal(listedAt, watch.Current.Revision);
        Assert.Equal(Enumerable.Range(1, 99).Select(i => $"sync/{i:D3}"), state.Select(e => e.Key));
        Assert.All(state, e => Assert.Equal(WatchEventType.Put, e.Type));
        Assert.Equal("42", Encoding.UTF8.GetString(state.Single(e => e.Key == "sync/042").Value!.Value.Span));

        var live = await client.SetAsync("sync/new", "n"u8.ToArray());
        var after = await WatchTests.ReadChangesAsync(watch, e => e.Key == "sync/new");
        Assert.Equal([("sync/new", live)], after.Select(e => (e.Key, e.Revision)));
        Assert.True(live > listedAt);
    }
}
