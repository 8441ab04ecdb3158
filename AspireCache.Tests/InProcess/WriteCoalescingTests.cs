using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Xunit.Abstractions;

namespace AspireCache.Tests.InProcess;

/// <summary>
/// The router's write coalescing (<c>Router:WriteCoalescing</c>): PUTs and DELETEs that arrive while a
/// request to the leader is in flight go together in one <c>POST /cluster/write-batch</c>; each is
/// still its own write (conditions, TTL, Idempotency-Key) and its caller gets exactly what its own
/// request would have answered.
/// </summary>
[Collection(InProcessCollection.Name)]
public sealed partial class WriteCoalescingTests(StableClusterFixture fixture, ITestOutputHelper output) : IClassFixture<StableClusterFixture>
{
    private static readonly Dictionary<string, string?> Uncoalesced = new() { ["Router:WriteCoalescing:Enabled"] = "false" };

    private static readonly HashSet<string> Volatile = new(StringComparer.OrdinalIgnoreCase) { "Date", "Server", "Transfer-Encoding", "Content-Length" };

    [Fact]
    public async Task A_coalesced_write_answers_what_the_same_write_forwarded_alone_answers()
    {
        var cluster = fixture.Cluster;
        await using var coalescing = await ReadyRouter.StartAsync(cluster);
        await using var alone = await ReadyRouter.StartAsync(cluster, Uncoalesced);
        var (viaCoalescing, viaAlone) = (coalescing.Client, alone.Client);

        // The same writes, in the same order, each router on keys of its own: the same state transitions.
        var run = Guid.NewGuid().ToString("N");
        var steps = new (string Method, string Path, string? Body, (string Name, string Value)[] Headers)[]
        {
            ("PUT", "a", "v1", []),                                  // 201 Created, Location, ETag
            ("PUT", "a", "v2", []),                                  // 200
            ("PUT", "a", "v3", [("If-Match", "\"1\"")]),             // 412 with the current ETag
            ("PUT", "a", "v4", [("If-Match", "*")]),                 // 200 (update-only)
            ("PUT", "b", "new", [("If-None-Match", "*")]),           // 201 (create-only)
            ("PUT", "b", "again", [("If-None-Match", "*")]),         // 412
            ("PUT", "c?ttl=1h&pin=true", "ttl", []),                 // 201
            ("PUT", "c?ttl=forever", "ttl", []),                     // 400 invalid ttl
            ("PUT", "d", "once", [("Idempotency-Key", "{run}-1")]),  // 201
            ("PUT", "d", "once", [("Idempotency-Key", "{run}-1")]),  // 201 again, Idempotent-Replayed
            ("PUT", "d", "other", [("Idempotency-Key", "{run}-1")]), // 422 key reused
            ("PUT", "e", "", []),                                    // an empty value: 201
            ("PUT", new string('k', 2000), "long", []),              // 400 invalid key
            ("PUT", "f", "x", [("If-Match", "not-an-etag")]),        // 400
            ("DELETE", "a", null, []),                               // 204 with ETag
            ("DELETE", "a", null, []),                               // 404 problem
            ("DELETE", "b", null, [("If-Match", "\"1\"")]),          // 412
            ("DELETE", "b", null, [("If-Match", "*")]),              // 204
            ("PUT", "g", "problem for html", [("Accept", "text/html"), ("If-Match", "\"1\"")]), // 412 (a problem whatever Accept says)
        };

        using var batchSizes = BatchSizes.Writes(coalescing.Router); // this router's batches only (tests of other collections run meanwhile)
        var prefixes = new[] { $"wc-{run}-alone", $"wc-{run}-coal" };
        foreach (var (method, path, body, headers) in steps)
        {
            var shapes = new List<string>();
            foreach (var (client, prefix) in new[] { (viaAlone, prefixes[0]), (viaCoalescing, prefixes[1]) })
            {
                var key = path.Length > 1000 ? path : $"{prefix}/{path}";
                using var request = new HttpRequestMessage(new HttpMethod(method), $"/cache/{key}");
                if (body is not null)
                {
                    request.Content = new ByteArrayContent(Encoding.UTF8.GetBytes(body));
                }

                foreach (var (name, value) in headers)
                {
                    request.Headers.TryAddWithoutValidation(name, value.Replace("{run}", prefix, StringComparison.Ordinal));
                }

                using var response = await client.SendAsync(request);
                shapes.Add(await ShapeAsync(response, prefix));
            }

            output.WriteLine($"{method} {path[..Math.Min(path.Length, 30)]}: {shapes[1]}");
            Assert.Equal(shapes[0], shapes[1]);
        }

        // The comparison meant something only if the coalescing router answered from batches (one per write here: they are sequential).
        Assert.Equal(steps.Length, batchSizes.Snapshot().Length);
    }

    [Fact]
    public async Task Concurrent_writes_go_to_the_leader_together_and_each_caller_gets_its_own_answer()
    {
        var cluster = fixture.Cluster;
        await using var router = await ReadyRouter.StartAsync(cluster);
        var client = router.Client;
        var prefix = $"wc-{Guid.NewGuid():N}";
        const int Keys = 48;

        using var batchSizes = BatchSizes.Writes(router.Router);
        var wrong = new ConcurrentQueue<string>();
        var versions = new ConcurrentDictionary<int, long>();
        await batchSizes.RepeatUntilCoalescedAsync(round => Task.WhenAll(Enumerable.Range(0, Keys).Select(async i =>
        {
            // Even keys: plain PUTs; odd keys: create-only, which only the first round creates.
            using var request = new HttpRequestMessage(HttpMethod.Put, $"/cache/{prefix}/{i}") { Content = new StringContent($"value of {i}") };
            if (i % 2 == 1)
            {
                request.Headers.TryAddWithoutValidation("If-None-Match", "*");
            }

            using var response = await client.SendAsync(request);
            var expected = i % 2 == 1 && round > 0 ? HttpStatusCode.PreconditionFailed : round == 0 ? HttpStatusCode.Created : HttpStatusCode.OK;
            if (response.StatusCode != expected)
            {
                wrong.Enqueue($"{i} (round {round}): {(int)response.StatusCode}, expected {(int)expected}");
            }
            else if (response.IsSuccessStatusCode)
            {
                var answer = JsonSerializer.Deserialize<JsonElement>(await response.Content.ReadAsStringAsync());
                Assert.Equal($"{prefix}/{i}", answer.GetProperty("key").GetString());
                Assert.Equal($"\"{answer.GetProperty("version").GetInt64()}\"", response.Headers.ETag?.Tag);
                versions[(round * Keys) + i] = answer.GetProperty("version").GetInt64();
            }
        })));

        var sizes = batchSizes.Snapshot();
        output.WriteLine($"batches: {sizes.Length}, writes per batch: {string.Join(" ", sizes)}");
        Assert.Empty(wrong);
        Assert.Contains(sizes, n => n > 1);
        Assert.Equal(versions.Count, versions.Values.Distinct().Count()); // each write is its own revision

        for (var i = 0; i < Keys; i++)
        {
            Assert.Equal($"value of {i}", await client.GetStringAsync($"/cache/{prefix}/{i}"));
        }
    }

    [Fact]
    public async Task Writes_the_router_does_not_coalesce_are_forwarded_as_before()
    {
        var cluster = fixture.Cluster;
        await using var router = await ReadyRouter.StartAsync(cluster);
        var client = router.Client;
        var key = $"wc-{Guid.NewGuid():N}";
        using var batchSizes = BatchSizes.Writes(router.Router);

        // A body of unknown length (chunked), a value over Router:WriteCoalescing:MaxValueBytes, a reserved name.
        using var chunked = new HttpRequestMessage(HttpMethod.Put, $"/cache/{key}/chunked") { Content = new StreamContent(new MemoryStream(Encoding.UTF8.GetBytes("chunked"))) };
        chunked.Headers.TransferEncodingChunked = true;
        Assert.Equal(HttpStatusCode.Created, (await client.SendAsync(chunked)).StatusCode);
        Assert.Equal(HttpStatusCode.Created, (await client.PutAsync($"/cache/{key}/large", new ByteArrayContent(new byte[100 * 1024]))).StatusCode);
        using var reserved = await client.PutAsync("/cache/hot", new StringContent("x"));
        Assert.Equal(HttpStatusCode.BadRequest, reserved.StatusCode);
        Assert.Equal("chunked", await client.GetStringAsync($"/cache/{key}/chunked"));
        Assert.Equal(100 * 1024, (await client.GetByteArrayAsync($"/cache/{key}/large")).Length);
        Assert.Empty(batchSizes.Snapshot());
    }

    [Fact]
    public async Task Past_the_queued_bytes_bound_writes_go_alone_and_still_succeed()
    {
        var cluster = fixture.Cluster;
        await using var router = await ReadyRouter.StartAsync(cluster, new Dictionary<string, string?> { ["Router:WriteCoalescing:MaxQueuedBytes"] = "100" });
        var client = router.Client;
        var key = $"wc-{Guid.NewGuid():N}";
        using var batchSizes = BatchSizes.Writes(router.Router);

        // 101 bytes never fit the bound: forwarded on their own. 100 bytes and a DELETE do.
        Assert.Equal(HttpStatusCode.Created, (await client.PutAsync($"/cache/{key}/big", new ByteArrayContent(new byte[101]))).StatusCode);
        Assert.Empty(batchSizes.Snapshot());
        Assert.Equal(HttpStatusCode.Created, (await client.PutAsync($"/cache/{key}/fits", new ByteArrayContent(new byte[100]))).StatusCode);
        Assert.Equal(HttpStatusCode.NoContent, (await client.DeleteAsync($"/cache/{key}/big")).StatusCode);
        Assert.Equal([1, 1], batchSizes.Snapshot());
        Assert.Equal(100, (await client.GetByteArrayAsync($"/cache/{key}/fits")).Length);
    }

    [Fact]
    public async Task A_batchs_writes_go_into_one_log_entry()
    {
        // Without the leader's gather, the proposer (woken by the first write) takes the first few alone
        // and leaves the rest for the next round: a batch costs two replication rounds instead of one.
        var cluster = fixture.Cluster;
        var leader = await cluster.WaitForLeaderAsync(TimeSpan.FromSeconds(10));
        using var node = cluster.Client(leader);
        var entries = new ConcurrentQueue<int>();
        using var listener = new System.Diagnostics.Metrics.MeterListener
        {
            InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Name == "aspirecache.write.commands_per_entry")
                {
                    l.EnableMeasurementEvents(instrument);
                }
            },
        };
        listener.SetMeasurementEventCallback<int>((_, value, _, _) => entries.Enqueue(value));
        listener.Start();
        var whole = new List<bool>();
        for (var round = 0; round < 10; round++)
        {
            var prefix = $"gather-{round}-{Guid.NewGuid():N}";
            var writes = Enumerable.Range(0, 64).Select(i => new WriteBatchWire.Write(WriteBatchWire.Put, $"{prefix}/{i}", "", null, null, null, null, "v"u8.ToArray())).ToArray();
            var content = new ByteArrayContent(WriteBatchWire.EncodeRequest(writes));
            content.Headers.ContentType = new MediaTypeHeaderValue(WriteBatchWire.RequestMediaType);
            entries.Clear();
            using var answer = await node.PostAsync(WriteBatchWire.Path, content);
            Assert.Equal(HttpStatusCode.OK, answer.StatusCode);
            whole.Add(entries.Contains(64)); // all of them in one entry (other entries, e.g. a snapshot's barrier, may come too)
        }

        // A box busy with other tests can stall the batch's own thread past the proposer's bounded wait once; without the gather, 2-6 of 10 were whole.
        output.WriteLine($"batches in one entry: {whole.Count(w => w)} of {whole.Count}");
        Assert.True(whole.Count(w => w) >= 9, $"only {whole.Count(w => w)} of {whole.Count} batches went into one log entry");
    }

    [Fact]
    public async Task The_batch_endpoint_refuses_malformed_batches_and_answers_each_write_as_its_own_request()
    {
        var cluster = fixture.Cluster;
        var leader = await cluster.WaitForLeaderAsync(TimeSpan.FromSeconds(10));
        using var node = cluster.Client(leader);
        using var wrongType = await node.PostAsync(WriteBatchWire.Path, new StringContent("[]", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, wrongType.StatusCode);
        Assert.Equal("application/problem+json", wrongType.Content.Headers.ContentType?.MediaType);

        foreach (var body in new byte[][] { [], [9, 1, 0, (byte)'k'], [WriteBatchWire.Put, 5, 0, (byte)'a'], [WriteBatchWire.Put, 1, 0, 0xC3] })
        {
            using var malformed = await node.PostAsync(WriteBatchWire.Path, Content(body));
            Assert.Equal(HttpStatusCode.BadRequest, malformed.StatusCode);
            Assert.Equal("application/problem+json", malformed.Content.Headers.ContentType?.MediaType);
        }

        var key = $"wc-{Guid.NewGuid():N}";
        var writes = new WriteBatchWire.Write[]
        {
            new(WriteBatchWire.Put, key, "?ttl=1h", null, null, null, null, "abc"u8.ToArray()),
            new(WriteBatchWire.Put, key + "-bad", "?ttl=soon", null, null, null, null, "x"u8.ToArray()),
            new(WriteBatchWire.Delete, key + "-missing", "", null, null, null, null, default),
        };
        using var answer = await node.PostAsync(WriteBatchWire.Path, Content(WriteBatchWire.EncodeRequest(writes)));
        Assert.Equal(HttpStatusCode.OK, answer.StatusCode);
        var answers = new WriteBatchWire.Answer[writes.Length];
        Assert.True(WriteBatchWire.TryDecodeResponse(await answer.Content.ReadAsByteArrayAsync(), writes.Length, answers));
        Assert.Equal(201, answers[0].Status);
        Assert.Contains(answers[0].Headers, h => h.Key == "Location" && h.Value.EndsWith(key, StringComparison.Ordinal));
        Assert.Equal(400, answers[1].Status);
        Assert.Contains("invalid-request", Encoding.UTF8.GetString(answers[1].Body.Span), StringComparison.Ordinal);
        Assert.Equal(404, answers[2].Status);
        Assert.Contains(answers[2].Headers, h => h.Key == "Content-Type" && h.Value == "application/problem+json");
        Assert.Equal("abc", await node.GetStringAsync($"/cache/{key}"));
        Assert.Equal(HttpStatusCode.NotFound, (await node.GetAsync($"/cache/{key}-bad")).StatusCode); // nothing partial

        static ByteArrayContent Content(byte[] body)
        {
            var content = new ByteArrayContent(body);
            content.Headers.ContentType = new MediaTypeHeaderValue(WriteBatchWire.RequestMediaType);
            return content;
        }
    }

    /// <summary>What must be the same whichever router answered: status, header names and values, body — with the router's key prefix, revisions and trace ids taken out.</summary>
    [Fact]
    public async Task A_write_whose_batch_was_lost_and_that_then_finds_no_leader_hears_outcome_unknown_never_not_applied()
    {
        // The router gives a batch up after 1 s; the node would answer its writes only after 10 s. Every write
        // leaves at once in a batch of its own (32 in flight): each is lost with the leader below.
        await using var cluster = await InProcessCluster.StartAsync(new Dictionary<string, string?>(PartitionTests.FaultSettings)
        {
            ["Cluster:WriteTimeout"] = "00:00:10",
            // The leader waits this long for its stalled followers before it counts them lost and steps
            // down (answering the writes it had not proposed "not leader"): beyond this test's few seconds.
            ["Cluster:RaftRpcTimeoutMs"] = "10000",
        });
        await using var router = await ReadyRouter.StartAsync(cluster, new Dictionary<string, string?>
        {
            ["Router:WriteCoalescing:Timeout"] = "00:00:01",
            ["Router:WriteCoalescing:MaxInFlight"] = "32",
            ["Router:RetryDeadline"] = "00:00:03",
        });

        using var batchSizes = BatchSizes.Writes(router.Router);
        var scope = router.Router.Services.GetService(typeof(System.Diagnostics.Metrics.IMeterFactory));
        var alone = new ConcurrentQueue<string>();
        using var listener = Measurements.ListenTo("aspirecache.router.write_batch.forwarded_alone", (tags, _) => alone.Enqueue(tags["reason"]?.ToString() ?? ""), scope); // this test's router only

        // The leader's messages to both followers hang, and the followers cannot reach anyone: the leader
        // appends what it gets but commits nothing, and no node can be elected.
        var leader = await cluster.WaitForLeaderAsync(TimeSpan.FromSeconds(10));
        for (var node = 0; node < 3; node++)
        {
            var others = Enumerable.Range(0, 3).Where(i => i != node).Select(i => InProcessCluster.Ids[i]).ToArray();
            using var admin = cluster.Client(node);
            (await admin.PutAsJsonAsync("/admin/faults/partition", node == leader ? new { blocked = Array.Empty<string>(), stalled = others } : new { blocked = others, stalled = Array.Empty<string>() })).EnsureSuccessStatusCode();
        }

        var prefix = $"wc-lost-{Guid.NewGuid():N}";
        var writes = Enumerable.Range(0, 32).Select(async i =>
        {
            using var response = await router.Client.PutAsync($"/cache/{prefix}/{i}", new StringContent("v"));
            var type = response.Content.Headers.ContentType?.MediaType == "application/problem+json"
                ? JsonSerializer.Deserialize<JsonElement>(await response.Content.ReadAsStringAsync()).GetProperty("type").GetString()
                : null;
            return (response.StatusCode, Type: type);
        }).ToArray();

        // Once every batch has reached the leader, the leader goes away (its listener closes at once, its
        // answers never come): each batch is lost, and each write, going on alone, finds no leader that could
        // propose it and answer for itself. Its batch may have been applied, so "no leader" (nothing done)
        // would be a lie: its caller must hear "outcome unknown". (A write still waiting in the leader's queue
        // behind the entry that cannot commit is answered by the stopping node itself, "nothing written":
        // it goes on alone as not-leader, and may hear either answer.)
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (batchSizes.Snapshot().Sum() < writes.Length && DateTime.UtcNow < deadline)
        {
            await Task.Delay(10);
        }

        Assert.Equal(writes.Length, batchSizes.Snapshot().Sum());
        await Task.Delay(300); // sent is not yet received: well within the batches' 1 s
        await cluster.StopNodeAsync(leader);
        var answers = await Task.WhenAll(writes);

        output.WriteLine($"answers: {string.Join(", ", answers.GroupBy(a => $"{(int)a.StatusCode} {a.Type}").Select(g => $"{g.Count()} x {g.Key}"))}; forwarded alone: {string.Join(" ", alone.GroupBy(r => r).Select(g => $"{g.Count()} x {g.Key}"))}");
        var lost = alone.Count(reason => reason == "batch-failed");
        Assert.Equal(writes.Length, lost + alone.Count(reason => reason == "not-leader"));
        Assert.True(lost > 0, "no batch was lost: the test did not set up what it tests");
        Assert.All(answers, a => Assert.True(a is (HttpStatusCode.ServiceUnavailable, ProblemTypes.Timeout or ProblemTypes.NoLeader), $"{(int)a.StatusCode} {a.Type}"));
        Assert.True(answers.Count(a => a.Type == ProblemTypes.Timeout) >= lost, "a write whose batch was lost heard \"no leader\" (nothing done): its batch may have been applied");
    }

    private static async Task<string> ShapeAsync(HttpResponseMessage response, string prefix)
    {
        var shape = new StringBuilder().Append((int)response.StatusCode);
        foreach (var (name, values) in response.Headers.Concat(response.Content.Headers).OrderBy(h => h.Key, StringComparer.OrdinalIgnoreCase))
        {
            if (!Volatile.Contains(name))
            {
                shape.Append(" | ").Append(name).Append(": ").Append(Normalize(string.Join(", ", values), prefix));
            }
        }

        var body = await response.Content.ReadAsStringAsync();
        if (response.Content.Headers.ContentType?.MediaType?.EndsWith("json", StringComparison.Ordinal) == true)
        {
            var json = JsonSerializer.Deserialize<Dictionary<string, JsonElement>>(body)!;
            json.Remove("traceId");
            body = string.Join("; ", json.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => $"{p.Key}={p.Value}"));
        }

        return shape.Append(" || ").Append(Normalize(body, prefix)).ToString();
    }

    private static string Normalize(string text, string prefix) => Numbers().Replace(text.Replace(prefix, "{prefix}", StringComparison.Ordinal), "#");

    [GeneratedRegex("[0-9]+")]
    private static partial Regex Numbers();
}
