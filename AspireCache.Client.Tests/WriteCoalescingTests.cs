using System.Collections.Concurrent;
using System.Net;
using System.Text;
using AspireCache.Client.Tests.Infrastructure;
using AspireCache.Contracts;

namespace AspireCache.Client.Tests;

/// <summary>
/// The client's write coalescing (<see cref="AspireCacheClientOptions.CoalesceWrites"/>), in direct mode
/// (to the leader) and through the router: single-key writes that arrive while one is in flight travel
/// together as <c>POST /cluster/write-batch</c>, each answered as its own request would be (conditions,
/// TTL, absence); a batch that fails goes on write by write with the same idempotency keys, so nothing
/// is applied twice. Linearizability under faults: <c>AspireCache.Tests</c>' <c>ClientWriteCoalescingTests</c>.
/// </summary>
[Collection(ClientClusterCollection.Name)]
public sealed class WriteCoalescingTests(ClusterFixture fixture) : IClassFixture<ClusterFixture>
{
    private static Task WaitQueuedAsync(AspireCacheClient client, int count) =>
        HoldingGate.WaitQueuedAsync(() => client.WriteCoalescer!.Queued, count, "writes");

    private static async Task<Exception?> FailureOf(Task task)
    {
        try
        {
            await task;
            return null;
        }
        catch (Exception ex)
        {
            return ex;
        }
    }

    private async Task<long> RevisionAsync(AspireCacheClient client, string prefix) => (await client.ListPageAsync(prefix, limit: 1)).Revision;

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Writes_that_arrive_while_one_is_in_flight_travel_together_and_each_gets_what_its_own_request_would(bool direct)
    {
        var prefix = $"wc/{(direct ? "d" : "r")}/together/";
        var gate = new Gate("/cache/" + prefix);
        var seen = new ConcurrentQueue<(HttpMethod, Uri)>();
        await using var client = await fixture.NewClientAsync(direct, new RequestCapture(seen) { InnerHandler = gate }, new AspireCacheClientOptions { Deadline = TimeSpan.FromSeconds(15) });
        var writer = fixture.NewClient();
        var cas = await writer.SetAsync(prefix + "cas", "c0"u8.ToArray());
        var exists = await writer.SetAsync(prefix + "exists", "e0"u8.ToArray());
        await writer.SetAsync(prefix + "del", "d0"u8.ToArray());
        var start = await RevisionAsync(writer, prefix);

        gate.Close();
        seen.Clear();
        var first = client.SetAsync(prefix + "first", "f"u8.ToArray()); // held in flight by the gate
        await gate.Entered.WaitAsync(TimeSpan.FromSeconds(10));
        var before = DateTimeOffset.UtcNow;
        var plain = Enumerable.Range(0, 10).Select(i => client.SetAsync(prefix + i, Encoding.UTF8.GetBytes($"v{i}"))).ToArray();
        var ttl = client.SetAsync(prefix + "ttl", "t"u8.ToArray(), new SetOptions { Ttl = TimeSpan.FromMinutes(5) });
        var casOk = client.SetAsync(prefix + "cas", "c1"u8.ToArray(), new SetOptions { IfVersion = cas });
        var casStale = client.SetAsync(prefix + "exists", "e1"u8.ToArray(), new SetOptions { IfVersion = exists - 1 });
        var absentOnly = client.SetAsync(prefix + "exists", "e2"u8.ToArray(), new SetOptions { IfAbsent = true });
        var deleted = client.DeleteAsync(prefix + "del");
        var deletedAbsent = client.DeleteAsync(prefix + "never");
        await WaitQueuedAsync(client, 16);

        gate.Open();
        var versions = await Task.WhenAll(plain.Prepend(first));
        var ttlVersion = await ttl;
        var casVersion = await casOk;
        Assert.IsType<PreconditionFailedException>(await FailureOf(casStale));
        Assert.IsType<PreconditionFailedException>(await FailureOf(absentOnly));
        Assert.True(await deleted);
        Assert.False(await deletedAbsent);

        // One PUT alone (the first), one batch for the 16 behind it, nothing else.
        var requests = seen.Where(r => r.Item2.AbsolutePath.StartsWith("/cache/" + prefix, StringComparison.Ordinal) || r.Item2.AbsolutePath == WriteBatchWire.Path).ToList();
        Assert.Equal(2, requests.Count);
        Assert.Equal(HttpMethod.Put, requests[0].Item1);
        Assert.Equal((HttpMethod.Post, WriteBatchWire.Path), (requests[1].Item1, requests[1].Item2.AbsolutePath));

        // Each got what its own request would have: its version, its value, its TTL; the refused ones changed nothing.
        var read = await writer.GetAsync(prefix + "first");
        Assert.Equal(versions[0], read!.Version);
        for (var i = 0; i < 10; i++)
        {
            var item = await writer.GetAsync(prefix + i);
            Assert.Equal($"v{i}", Encoding.UTF8.GetString(item!.Value.Span));
            Assert.Equal(versions[i + 1], item.Version);
        }

        var withTtl = await writer.GetAsync(prefix + "ttl");
        Assert.Equal(ttlVersion, withTtl!.Version);
        Assert.InRange(withTtl.ExpiresAt!.Value, before.AddMinutes(4), before.AddMinutes(5).AddSeconds(5));
        Assert.Equal(casVersion, (await writer.GetAsync(prefix + "cas"))!.Version);
        var unchanged = await writer.GetAsync(prefix + "exists");
        Assert.Equal(("e0", exists), (Encoding.UTF8.GetString(unchanged!.Value.Span), unchanged.Version));
        Assert.Null(await writer.GetAsync(prefix + "del"));

        // 14 changes: first, 10 plain, ttl, cas, the delete; the two refused writes and the absent delete none.
        Assert.Equal(start + 14, await RevisionAsync(writer, prefix));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_batch_applied_whose_answer_is_lost_sends_each_write_alone_and_none_is_applied_twice(bool direct)
    {
        var prefix = $"wc/{(direct ? "d" : "r")}/lost/";
        var gate = new Gate("/cache/" + prefix) { LoseBatchAnswers = true };
        var seen = new ConcurrentQueue<(HttpMethod, Uri)>();
        await using var client = await fixture.NewClientAsync(direct, new RequestCapture(seen) { InnerHandler = gate }, new AspireCacheClientOptions { Deadline = TimeSpan.FromSeconds(15) });
        var writer = fixture.NewClient();
        var start = await RevisionAsync(writer, prefix);

        gate.Close();
        var first = client.SetAsync(prefix + "first", "f"u8.ToArray());
        await gate.Entered.WaitAsync(TimeSpan.FromSeconds(10));
        // "Only if absent": applied a second time, each would fail its condition; replayed, each succeeds.
        var rest = Enumerable.Range(0, 12).Select(i => client.SetAsync(prefix + i, Encoding.UTF8.GetBytes($"v{i}"), new SetOptions { IfAbsent = true })).ToArray();
        await WaitQueuedAsync(client, 12);

        gate.Open();
        var versions = await Task.WhenAll(rest.Prepend(first));
        Assert.Equal(1, gate.BatchesLost);
        for (var i = 0; i < 12; i++)
        {
            var item = await writer.GetAsync(prefix + i);
            Assert.Equal(($"v{i}", versions[i + 1]), (Encoding.UTF8.GetString(item!.Value.Span), item.Version));
        }

        // The batch was applied once (13 changes in all), then each write went alone and was answered from the leader's record.
        Assert.Equal(start + 13, await RevisionAsync(writer, prefix));
        Assert.Equal(13, seen.Count(r => r.Item1 == HttpMethod.Put && r.Item2.AbsolutePath.StartsWith("/cache/" + prefix, StringComparison.Ordinal)));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_write_cancelled_while_it_waits_is_never_sent_and_its_buffer_is_not_read_afterwards(bool direct)
    {
        var prefix = $"wc/{(direct ? "d" : "r")}/cancelled/";
        var gate = new Gate("/cache/" + prefix);
        await using var client = await fixture.NewClientAsync(direct, gate, new AspireCacheClientOptions { Deadline = TimeSpan.FromSeconds(15) });
        var writer = fixture.NewClient();

        gate.Close();
        var first = client.SetAsync(prefix + "first", "f"u8.ToArray());
        await gate.Entered.WaitAsync(TimeSpan.FromSeconds(10));
        var buffer = "cancelled"u8.ToArray();
        using var cancel = new CancellationTokenSource();
        var cancelled = client.SetAsync(prefix + "cancelled", buffer, cancellationToken: cancel.Token);
        var kept = client.SetAsync(prefix + "kept", "kept"u8.ToArray());
        await WaitQueuedAsync(client, 2);

        cancel.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => cancelled);
        Assert.Equal(1, client.WriteCoalescer!.Queued); // it left the queue
        "reused!!!"u8.CopyTo(buffer); // the caller reuses its buffer (a pooled one, as the distributed cache's)

        gate.Open();
        await first;
        await kept;
        Assert.Null(await writer.GetAsync(prefix + "cancelled"));
        Assert.Equal("kept", Encoding.UTF8.GetString((await writer.GetAsync(prefix + "kept"))!.Value.Span));
    }

    [Fact]
    public async Task A_router_without_the_batch_route_turns_write_coalescing_off_and_every_write_is_still_applied()
    {
        const string Prefix = "wc/r/old-router/";
        var gate = new Gate("/cache/" + Prefix) { RefuseBatchesWith = HttpStatusCode.NotFound };
        var seen = new ConcurrentQueue<(HttpMethod, Uri)>();
        await using var client = await fixture.NewClientAsync(direct: false, new RequestCapture(seen) { InnerHandler = gate }, new AspireCacheClientOptions { Deadline = TimeSpan.FromSeconds(15) });
        var writer = fixture.NewClient();

        gate.Close();
        var first = client.SetAsync(Prefix + "first", "f"u8.ToArray());
        await gate.Entered.WaitAsync(TimeSpan.FromSeconds(10));
        var queued = Enumerable.Range(0, 3).Select(i => client.SetAsync(Prefix + i, Encoding.UTF8.GetBytes($"v{i}"))).ToArray();
        await WaitQueuedAsync(client, 3);

        gate.Open();
        await Task.WhenAll(queued.Prepend(first));
        Assert.True(client.WriteCoalescer!.Unsupported);
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal($"v{i}", Encoding.UTF8.GetString((await writer.GetAsync(Prefix + i))!.Value.Span));
        }

        // From now on every write is its own request, concurrent or not: no batch is tried again.
        seen.Clear();
        await Task.WhenAll(Enumerable.Range(0, 20).Select(i => client.SetAsync(Prefix + "again/" + i, "a"u8.ToArray())));
        Assert.DoesNotContain(seen, r => r.Item2.AbsolutePath == WriteBatchWire.Path);
        Assert.Equal(20, seen.Count(r => r.Item1 == HttpMethod.Put));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task With_coalescing_off_every_write_is_its_own_request(bool direct)
    {
        var prefix = $"wc/{(direct ? "d" : "r")}/off/";
        var seen = new ConcurrentQueue<(HttpMethod, Uri)>();
        await using var client = await fixture.NewClientAsync(direct, new RequestCapture(seen) { InnerHandler = new SocketsHttpHandler() }, new AspireCacheClientOptions { CoalesceWrites = false });
        Assert.Null(client.WriteCoalescer);
        await Task.WhenAll(Enumerable.Range(0, 30).Select(i => client.SetAsync(prefix + i, "x"u8.ToArray())));
        Assert.Equal(30, seen.Count(r => r.Item1 == HttpMethod.Put && r.Item2.AbsolutePath.StartsWith("/cache/" + prefix, StringComparison.Ordinal)));
        Assert.DoesNotContain(seen, r => r.Item2.AbsolutePath == WriteBatchWire.Path);
    }

    [Theory]
    [InlineData("a/b", 100, true)]
    [InlineData("a/../b", 100, false)]
    [InlineData("a/b", WriteCoalescer.MaxValueBytes, true)]
    [InlineData("a/b", WriteCoalescer.MaxValueBytes + 1, false)]
    [InlineData("watch", 10, false)]
    public void Writes_whose_path_names_another_key_or_whose_value_is_large_go_alone(string key, int valueBytes, bool batched) =>
        Assert.Equal(batched, WriteCoalescer.CanCoalesce(key, valueBytes));

    /// <summary>
    /// Holds the first PUT under the prefix while closed; optionally refuses every write batch, or sends
    /// it on and then loses its answer (502, as a router whose leader died before answering).
    /// </summary>
    private sealed class Gate(string prefix) : HoldingGate(HttpMethod.Put, prefix)
    {
        private int _lost;

        public HttpStatusCode? RefuseBatchesWith { get; init; }

        public bool LoseBatchAnswers { get; init; }

        public int BatchesLost => Volatile.Read(ref _lost);

        protected override Task<HttpResponseMessage>? AnswerAsync(HttpRequestMessage request, string path, CancellationToken cancellationToken) =>
            path != WriteBatchWire.Path ? null
            : RefuseBatchesWith is { } status ? Task.FromResult(new HttpResponseMessage(status))
            : LoseBatchAnswers ? LoseAnswerAsync(request, cancellationToken)
            : null;

        private async Task<HttpResponseMessage> LoseAnswerAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            using var applied = await PassOnAsync(request, cancellationToken);
            Assert.Equal(HttpStatusCode.OK, applied.StatusCode);
            Interlocked.Increment(ref _lost);
            return new HttpResponseMessage(HttpStatusCode.BadGateway);
        }
    }
}
