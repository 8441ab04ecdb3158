using System.Collections.Concurrent;
using System.Text;
using AspireCache.Client.Tests.Infrastructure;
using AspireCache.Contracts;

namespace AspireCache.Client.Tests;

/// <summary>Direct mode: no router; writes and linearizable reads to the leader learnt from /cluster/watch, stale reads to the nearest node, failover followed.</summary>
[Collection(ClientClusterCollection.Name)]
public sealed class DirectModeTests(ClusterFixture fixture) : IClassFixture<ClusterFixture>
{
    private (AspireCacheClient Client, ConcurrentQueue<(HttpMethod Method, Uri Url)> Seen) NewDirectClient()
    {
        var seen = new ConcurrentQueue<(HttpMethod, Uri)>();
        var http = new HttpClient(new Capture(seen) { InnerHandler = new SocketsHttpHandler() }) { Timeout = Timeout.InfiniteTimeSpan };
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

    [Fact]
    public async Task Reads_that_arrive_while_one_is_in_flight_travel_together_and_each_gets_what_its_own_GET_would()
    {
        var gate = new Gate("/cache/direct/together/");
        var seen = new ConcurrentQueue<(HttpMethod, Uri)>();
        await using var client = new AspireCacheClient(
            new HttpClient(new Capture(seen) { InnerHandler = gate }) { Timeout = Timeout.InfiniteTimeSpan },
            fixture.WithCredential(new AspireCacheClientOptions { Nodes = [.. fixture.Cluster.Urls], Deadline = TimeSpan.FromSeconds(15) }));
        await WaitForLeaderAsync(client);
        var writer = fixture.NewClient();
        var versions = new Dictionary<string, long>();
        for (var i = 0; i < 20; i++)
        {
            versions[$"direct/together/{i}"] = await writer.SetAsync($"direct/together/{i}", Encoding.UTF8.GetBytes($"v{i}"), i == 3 ? new SetOptions { Ttl = TimeSpan.FromMinutes(5) } : null);
        }

        foreach (var stale in new[] { false, true })
        {
            seen.Clear();
            gate.Close();
            var read = new ReadOptions { Consistency = stale ? Consistency.Stale : Consistency.Linearizable };
            var before = DateTimeOffset.UtcNow;
            var first = client.GetAsync("direct/together/0", read); // held in flight by the gate
            await gate.Entered.WaitAsync(TimeSpan.FromSeconds(10));
            var rest = Enumerable.Range(1, 20).Select(i => client.GetAsync($"direct/together/{i}", read)).ToArray(); // 20 is absent
            var deadline = DateTime.UtcNow.AddSeconds(10);
            while (client.Coalescer!.Queued < 20)
            {
                Assert.True(DateTime.UtcNow < deadline, $"only {client.Coalescer.Queued} reads queued behind the one in flight");
                await Task.Delay(10);
            }

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

    [Fact]
    public async Task A_refused_batch_sends_each_of_its_reads_as_its_own_GET()
    {
        var gate = new Gate("/cache/direct/refused/") { RefuseBatches = true };
        var seen = new ConcurrentQueue<(HttpMethod, Uri)>();
        await using var client = new AspireCacheClient(
            new HttpClient(new Capture(seen) { InnerHandler = gate }) { Timeout = Timeout.InfiniteTimeSpan },
            fixture.WithCredential(new AspireCacheClientOptions { Nodes = [.. fixture.Cluster.Urls], Deadline = TimeSpan.FromSeconds(15) }));
        await WaitForLeaderAsync(client);
        var writer = fixture.NewClient();
        for (var i = 0; i < 5; i++)
        {
            await writer.SetAsync($"direct/refused/{i}", Encoding.UTF8.GetBytes($"r{i}"));
        }

        gate.Close();
        var first = client.GetAsync("direct/refused/0");
        await gate.Entered.WaitAsync(TimeSpan.FromSeconds(10));
        var rest = Enumerable.Range(1, 4).Select(i => client.GetAsync($"direct/refused/{i}")).ToArray();
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (client.Coalescer!.Queued < 4)
        {
            Assert.True(DateTime.UtcNow < deadline, "the reads did not queue behind the one in flight");
            await Task.Delay(10);
        }

        gate.Open();
        var answers = await Task.WhenAll(rest.Prepend(first));
        Assert.Equal(["r0", "r1", "r2", "r3", "r4"], answers.Select(a => Encoding.UTF8.GetString(a!.Value.Span)));
        Assert.Equal(5, seen.Count(r => r.Item1 == HttpMethod.Get && r.Item2.AbsolutePath.StartsWith("/cache/direct/refused/", StringComparison.Ordinal)));
        Assert.Single(seen, r => r.Item1 == HttpMethod.Post && r.Item2.AbsolutePath == ReadBatchWire.Path);
    }

    [Fact]
    public async Task With_coalescing_off_every_read_is_its_own_GET()
    {
        var seen = new ConcurrentQueue<(HttpMethod, Uri)>();
        await using var client = new AspireCacheClient(
            new HttpClient(new Capture(seen) { InnerHandler = new SocketsHttpHandler() }) { Timeout = Timeout.InfiniteTimeSpan },
            fixture.WithCredential(new AspireCacheClientOptions { Nodes = [.. fixture.Cluster.Urls], CoalesceReads = false }));
        await WaitForLeaderAsync(client);
        Assert.Null(client.Coalescer);
        await Task.WhenAll(Enumerable.Range(0, 30).Select(i => client.GetAsync($"direct/off/{i}")));
        Assert.Equal(30, seen.Count(r => r.Item1 == HttpMethod.Get && r.Item2.AbsolutePath.StartsWith("/cache/direct/off/", StringComparison.Ordinal)));
        Assert.DoesNotContain(seen, r => r.Item2.AbsolutePath == ReadBatchWire.Path);
    }

    /// <summary>Holds the first GET under <paramref name="prefix"/> while closed; optionally answers every read batch 503.</summary>
    private sealed class Gate(string prefix) : DelegatingHandler(new SocketsHttpHandler())
    {
        private TaskCompletionSource _open = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private TaskCompletionSource _entered = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private int _held = 1;

        public bool RefuseBatches { get; init; }

        public Task Entered => _entered.Task;

        public void Close()
        {
            _open = new(TaskCreationOptions.RunContinuationsAsynchronously);
            _entered = new(TaskCreationOptions.RunContinuationsAsynchronously);
            Volatile.Write(ref _held, 0);
        }

        public void Open() => _open.TrySetResult();

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var path = request.RequestUri!.AbsolutePath;
            if (RefuseBatches && path == ReadBatchWire.Path)
            {
                return new HttpResponseMessage(System.Net.HttpStatusCode.ServiceUnavailable);
            }

            if (request.Method == HttpMethod.Get && path.StartsWith(prefix, StringComparison.Ordinal) && Interlocked.Exchange(ref _held, 1) == 0)
            {
                _entered.TrySetResult();
                await _open.Task.WaitAsync(cancellationToken);
            }

            return await base.SendAsync(request, cancellationToken);
        }
    }

    private sealed class Capture(ConcurrentQueue<(HttpMethod, Uri)> seen) : DelegatingHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            seen.Enqueue((request.Method, request.RequestUri!));
            return base.SendAsync(request, cancellationToken);
        }
    }
}
