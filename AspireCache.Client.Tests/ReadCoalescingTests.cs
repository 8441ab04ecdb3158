using System.Collections.Concurrent;
using System.Text;
using AspireCache.Client.Tests.Infrastructure;
using AspireCache.Contracts;

namespace AspireCache.Client.Tests;

/// <summary>
/// The client's read coalescing (<see cref="AspireCacheClientOptions.CoalesceReads"/>), in direct mode
/// (to a node) and through the router: reads that arrive while one is in flight travel together as
/// <c>POST /cluster/read-batch</c>, each answered as its own GET would be; what a batch cannot answer
/// goes on as a GET. Linearizability under faults: <c>AspireCache.Tests</c>' <c>ClientReadCoalescingTests</c>.
/// </summary>
[Collection(ClientClusterCollection.Name)]
public sealed class ReadCoalescingTests(ClusterFixture fixture) : IClassFixture<ClusterFixture>
{
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Reads_that_arrive_while_one_is_in_flight_travel_together_and_each_gets_what_its_own_GET_would(bool direct)
    {
        var gate = new Gate("/cache/direct/together/");
        var seen = new ConcurrentQueue<(HttpMethod, Uri)>();
        await using var client = await fixture.NewClientAsync(direct, new RequestCapture(seen) { InnerHandler = gate }, new AspireCacheClientOptions { Deadline = TimeSpan.FromSeconds(15) });
        var writer = fixture.NewClient();
        var versions = new Dictionary<string, long>();
        for (var i = 0; i < 20; i++)
        {
            versions[$"direct/together/{i}"] = await writer.SetAsync($"direct/together/{i}", Encoding.UTF8.GetBytes($"v{i}"), i == 3 ? new SetOptions { Ttl = TimeSpan.FromMinutes(5) } : null);
        }

        // Stale reads may be served by any node: each must have applied the writes for the answers to be known.
        await fixture.Cluster.WaitUntilAppliedAsync(versions.Values.Max(), TimeSpan.FromSeconds(10));
        foreach (var stale in new[] { false, true })
        {
            seen.Clear();
            gate.Close();
            var read = new ReadOptions { Consistency = stale ? Consistency.Stale : Consistency.Linearizable };
            var before = DateTimeOffset.UtcNow;
            var first = client.GetAsync("direct/together/0", read); // held in flight by the gate
            await gate.Entered.WaitAsync(TimeSpan.FromSeconds(10));
            var rest = Enumerable.Range(1, 20).Select(i => client.GetAsync($"direct/together/{i}", read)).ToArray(); // 20 is absent
            await HoldingGate.WaitQueuedAsync(() => client.Coalescer!.Queued, 20, "reads");

            gate.Open();
            var answers = await Task.WhenAll(rest.Prepend(first));
            for (var i = 0; i < 20; i++)
            {
                Assert.Equal($"v{i}", Encoding.UTF8.GetString(answers[i]!.Value.Span));
                Assert.Equal(versions[$"direct/together/{i}"], answers[i]!.Version);
                Assert.Equal($"direct/together/{i}", answers[i]!.Key);
            }

            Assert.Null(answers[20]);
            Assert.InRange(answers[3]!.ExpiresAt!.Value, before.AddMinutes(4), before.AddMinutes(5).AddSeconds(1));
            Assert.All(answers.Where((a, i) => i != 3 && a is not null), a => Assert.Null(a!.ExpiresAt));
            var requests = seen.ToList();
            Assert.Single(requests, r => r.Item1 == HttpMethod.Get && r.Item2.AbsolutePath.StartsWith("/cache/direct/together/", StringComparison.Ordinal));
            var batch = Assert.Single(requests, r => r.Item1 == HttpMethod.Post && r.Item2.AbsolutePath == ReadBatchWire.Path);
            Assert.Equal(stale, batch.Item2.Query.Contains("consistent=false", StringComparison.Ordinal));
        }
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_refused_batch_sends_each_of_its_reads_as_its_own_GET(bool direct)
    {
        var gate = new Gate("/cache/direct/refused/") { RefuseBatches = true };
        var seen = new ConcurrentQueue<(HttpMethod, Uri)>();
        await using var client = await fixture.NewClientAsync(direct, new RequestCapture(seen) { InnerHandler = gate }, new AspireCacheClientOptions { Deadline = TimeSpan.FromSeconds(15) });
        var writer = fixture.NewClient();
        for (var i = 0; i < 5; i++)
        {
            await writer.SetAsync($"direct/refused/{i}", Encoding.UTF8.GetBytes($"r{i}"));
        }

        gate.Close();
        var first = client.GetAsync("direct/refused/0");
        await gate.Entered.WaitAsync(TimeSpan.FromSeconds(10));
        var rest = Enumerable.Range(1, 4).Select(i => client.GetAsync($"direct/refused/{i}")).ToArray();
        await HoldingGate.WaitQueuedAsync(() => client.Coalescer!.Queued, 4, "reads");

        gate.Open();
        var answers = await Task.WhenAll(rest.Prepend(first));
        Assert.Equal(["r0", "r1", "r2", "r3", "r4"], answers.Select(a => Encoding.UTF8.GetString(a!.Value.Span)));
        Assert.Equal(5, seen.Count(r => r.Item1 == HttpMethod.Get && r.Item2.AbsolutePath.StartsWith("/cache/direct/refused/", StringComparison.Ordinal)));
        Assert.Single(seen, r => r.Item1 == HttpMethod.Post && r.Item2.AbsolutePath == ReadBatchWire.Path);
    }

    [Fact]
    public async Task A_router_without_the_batch_route_turns_coalescing_off_and_every_read_is_still_answered()
    {
        var gate = new Gate("/cache/direct/old-router/") { RefuseBatches = true, RefuseWith = System.Net.HttpStatusCode.NotFound };
        var seen = new ConcurrentQueue<(HttpMethod, Uri)>();
        await using var client = await fixture.NewClientAsync(direct: false, new RequestCapture(seen) { InnerHandler = gate }, new AspireCacheClientOptions { Deadline = TimeSpan.FromSeconds(15) });
        var writer = fixture.NewClient();
        await writer.SetAsync("direct/old-router/k", Encoding.UTF8.GetBytes("v"));

        gate.Close();
        var first = client.GetAsync("direct/old-router/k");
        await gate.Entered.WaitAsync(TimeSpan.FromSeconds(10));
        var queued = Enumerable.Range(0, 3).Select(_ => client.GetAsync("direct/old-router/k")).ToArray();
        await HoldingGate.WaitQueuedAsync(() => client.Coalescer!.Queued, 3, "reads");

        gate.Open();
        Assert.All(await Task.WhenAll(queued.Prepend(first)), a => Assert.Equal("v", Encoding.UTF8.GetString(a!.Value.Span)));
        Assert.True(client.Coalescer!.Unsupported);

        // From now on every read is a GET, concurrent or not: no batch is tried again.
        seen.Clear();
        await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => client.GetAsync("direct/old-router/k")));
        Assert.DoesNotContain(seen, r => r.Item2.AbsolutePath == ReadBatchWire.Path);
        Assert.Equal(20, seen.Count(r => r.Item1 == HttpMethod.Get));
    }

    [Theory]
    [InlineData("a/b", true)]
    [InlineData("a.b/c..d/...", true)]
    [InlineData("a/../b", false)]
    [InlineData("./a", false)]
    [InlineData("a/.", false)]
    [InlineData("..", false)]
    public void Keys_whose_GET_path_would_name_another_key_are_never_batched(string key, bool batched) =>
        Assert.Equal(batched, ReadCoalescer.CanCoalesce(key));

    [Fact]
    public void Keys_too_long_for_the_wire_are_never_batched()
    {
        Assert.True(ReadCoalescer.CanCoalesce(new string('k', 16_000)));
        Assert.False(ReadCoalescer.CanCoalesce(new string('k', 16_001)));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task With_coalescing_off_every_read_is_its_own_GET(bool direct)
    {
        var seen = new ConcurrentQueue<(HttpMethod, Uri)>();
        await using var client = await fixture.NewClientAsync(direct, new RequestCapture(seen) { InnerHandler = new SocketsHttpHandler() }, new AspireCacheClientOptions { CoalesceReads = false });
        Assert.Null(client.Coalescer);
        await Task.WhenAll(Enumerable.Range(0, 30).Select(i => client.GetAsync($"direct/off/{i}")));
        Assert.Equal(30, seen.Count(r => r.Item1 == HttpMethod.Get && r.Item2.AbsolutePath.StartsWith("/cache/direct/off/", StringComparison.Ordinal)));
        Assert.DoesNotContain(seen, r => r.Item2.AbsolutePath == ReadBatchWire.Path);
    }

    /// <summary>Holds the first GET under the prefix while closed; optionally refuses every read batch.</summary>
    private sealed class Gate(string prefix) : HoldingGate(HttpMethod.Get, prefix)
    {
        public bool RefuseBatches { get; init; }

        public System.Net.HttpStatusCode RefuseWith { get; init; } = System.Net.HttpStatusCode.ServiceUnavailable;

        protected override Task<HttpResponseMessage>? AnswerAsync(HttpRequestMessage request, string path, CancellationToken cancellationToken) =>
            RefuseBatches && path == ReadBatchWire.Path ? Task.FromResult(new HttpResponseMessage(RefuseWith)) : null;
    }
}
