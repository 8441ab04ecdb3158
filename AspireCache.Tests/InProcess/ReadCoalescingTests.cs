using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Xunit.Abstractions;

namespace AspireCache.Tests.InProcess;

/// <summary>
/// The router's read coalescing (<c>Router:ReadCoalescing</c>): GETs that arrive while a request to
/// their node is in flight go together in one <c>POST /cluster/read-batch</c> (linearizable and stale
/// ones apart), and each caller still gets exactly what its own GET would have answered.
/// </summary>
[Collection(InProcessCollection.Name)]
public sealed class ReadCoalescingTests(StableClusterFixture fixture, ITestOutputHelper output) : IClassFixture<StableClusterFixture>
{
    private static readonly Dictionary<string, string?> Uncoalesced = new() { ["Router:ReadCoalescing:Enabled"] = "false" };

    /// <summary>Headers whose values legitimately differ between two answers a moment apart.</summary>
    private static readonly HashSet<string> Volatile = new(StringComparer.OrdinalIgnoreCase) { "Date", "Server", "Transfer-Encoding", CacheHeaders.TtlMs };

    [Fact]
    public async Task A_coalesced_GET_answers_what_the_same_GET_forwarded_alone_answers()
    {
        var cluster = fixture.Cluster;
        await using var coalescing = await ReadyRouter.StartAsync(cluster);
        await using var alone = await ReadyRouter.StartAsync(cluster, Uncoalesced);
        var (viaCoalescing, viaAlone) = (coalescing.Client, alone.Client);

        var prefix = $"coalesce-{Guid.NewGuid():N}";
        Assert.Equal(HttpStatusCode.Created, (await viaAlone.PutAsync($"/cache/{prefix}/plain", new ByteArrayContent([0, 1, 2, 255]))).StatusCode);
        Assert.Equal(HttpStatusCode.Created, (await viaAlone.PutAsync($"/cache/{prefix}/ttl?ttl=1h", new StringContent("expires"))).StatusCode);
        Assert.Equal(HttpStatusCode.Created, (await viaAlone.PutAsync($"/cache/{prefix}/empty", new ByteArrayContent([]))).StatusCode);

        var requests = new (string Path, string? IfNoneMatch)[]
        {
            ($"/cache/{prefix}/plain", null),
            ($"/cache/{prefix}/plain?consistent=true", null),
            ($"/cache/{prefix}/ttl", null),
            ($"/cache/{prefix}/empty", null),
            ($"/cache/{prefix}/missing", null),
            ($"/cache/{prefix}/plain", "\"1\""),   // 304 only if that is its version: compared below either way
            ($"/cache/{prefix}/plain", "*"),       // 304
            ($"/cache/{prefix}/ttl", "\"999999\""), // 200
            ($"/cache/{prefix}/plain?consistent=false", null), // stale reads are batched too (apart)
            ($"/cache/{prefix}/ttl?consistent=false", null),
            ($"/cache/{prefix}/missing?consistent=false", null),
            ($"/cache/{prefix}/plain?consistent=false", "*"),
        };
        await EveryNodeAppliedAsync(cluster);
        using var batchSizes = BatchSizes.Reads(coalescing.Router); // this router's batches only (tests of other collections run meanwhile)
        foreach (var (path, ifNoneMatch) in requests)
        {
            using var expected = await GetAsync(viaAlone, path, ifNoneMatch);
            using var actual = await GetAsync(viaCoalescing, path, ifNoneMatch);
            var what = $"GET {path} (If-None-Match: {ifNoneMatch ?? "-"})";
            Assert.True(expected.StatusCode == actual.StatusCode, $"{what}: {(int)actual.StatusCode}, alone {(int)expected.StatusCode}");
            if (path.EndsWith("consistent=false", StringComparison.Ordinal))
            {
                // A stale read goes to the nearest node, which each router judges for itself: the
                // same headers, the same consistency and value, maybe another node's indexes.
                Assert.Equal(Headers(expected).Keys, Headers(actual).Keys);
                Assert.Equal("stale", actual.Headers.GetValues(CacheHeaders.Consistency).Single());
                Assert.Equal(expected.Headers.ETag, actual.Headers.ETag);
            }
            else
            {
                Assert.Equal(Headers(expected), Headers(actual));
            }

            Assert.Equal(expected.Content.Headers.ContentType?.ToString(), actual.Content.Headers.ContentType?.ToString());
            Assert.Equal(expected.Content.Headers.ContentLength is null, actual.Content.Headers.ContentLength is null);
            if (expected.Headers.Contains(CacheHeaders.TtlMs))
            {
                var ttl = long.Parse(actual.Headers.GetValues(CacheHeaders.TtlMs).Single(), System.Globalization.CultureInfo.InvariantCulture);
                Assert.InRange(ttl, 3_000_000, 3_600_000);
            }

            var expectedBody = await expected.Content.ReadAsByteArrayAsync();
            var actualBody = await actual.Content.ReadAsByteArrayAsync();
            if (expected.Content.Headers.ContentType?.MediaType == "application/problem+json")
            {
                // Same problem; the trace id names each router's own span.
                Assert.Equal(WithoutTraceId(expectedBody), WithoutTraceId(actualBody));
            }
            else
            {
                Assert.Equal(expectedBody, actualBody);
            }

            output.WriteLine($"{what}: {(int)actual.StatusCode}, {actualBody.Length} bytes, same as alone");
        }

        // The comparison meant something only if the coalescing router answered from batches (one per GET here: they are sequential).
        Assert.Equal(requests.Length, batchSizes.Snapshot().Length);
    }

    [Fact]
    public async Task Concurrent_GETs_go_to_the_node_together_and_each_caller_gets_its_own_key()
    {
        var cluster = fixture.Cluster;
        await using var router = await ReadyRouter.StartAsync(cluster);
        var client = router.Client;
        var prefix = $"coalesce-{Guid.NewGuid():N}";
        const int Keys = 48;
        for (var i = 0; i < Keys; i++)
        {
            Assert.True((await client.PutAsync($"/cache/{prefix}/{i}", new StringContent($"value of {i}"))).IsSuccessStatusCode);
        }

        // A third of the GETs are stale: first let every node apply the writes (a stale read may lag).
        await EveryNodeAppliedAsync(cluster);

        using var batchSizes = BatchSizes.Reads(router.Router);

        // Rounds of 48 concurrent GETs (one connection each): most arrive while a batch is in flight.
        var wrong = new ConcurrentQueue<string>();
        await batchSizes.RepeatUntilCoalescedAsync(_ => Task.WhenAll(Enumerable.Range(0, Keys).Select(async i =>
        {
            using var response = await client.GetAsync($"/cache/{prefix}/{i}" + (i % 3 == 0 ? "?consistent=false" : ""));
            var body = await response.Content.ReadAsStringAsync();
            if (response.StatusCode != HttpStatusCode.OK || body != $"value of {i}")
            {
                wrong.Enqueue($"{i}: {(int)response.StatusCode} {body}");
            }
        })));

        var sizes = batchSizes.Snapshot();
        output.WriteLine($"batches: {sizes.Length}, keys per batch: {string.Join(" ", sizes)}");
        Assert.Empty(wrong);
        Assert.Contains(sizes, n => n > 1);
    }

    [Fact]
    public async Task GETs_the_router_does_not_coalesce_are_forwarded_as_before()
    {
        var cluster = fixture.Cluster;
        await using var router = await ReadyRouter.StartAsync(cluster);
        var client = router.Client;
        var key = $"coalesce-{Guid.NewGuid():N}";
        Assert.True((await client.PutAsync($"/cache/{key}", new StringContent("v"))).IsSuccessStatusCode);

        // The hot-keys endpoint is not a key.
        using var hot = await client.GetAsync("/cache/hot");
        Assert.Equal(HttpStatusCode.OK, hot.StatusCode);
        Assert.Equal("application/json; charset=utf-8", hot.Content.Headers.ContentType?.ToString());

        // A malformed `consistent` gets the node's 400, an invalid key the node's invalid-key problem.
        using var bad = await client.GetAsync($"/cache/{key}?consistent=maybe");
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        using var invalid = await client.GetAsync($"/cache/{new string('k', 2000)}");
        Assert.Equal(HttpStatusCode.BadRequest, invalid.StatusCode);
        Assert.Contains("invalid-key", await invalid.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task The_batch_endpoint_refuses_malformed_batches_with_problems()
    {
        var cluster = fixture.Cluster;
        using var node = cluster.Client(0);
        using var wrongType = await node.PostAsync(ReadBatchWire.Path, new StringContent("[\"a\"]", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, wrongType.StatusCode);
        Assert.Equal("application/problem+json", wrongType.Content.Headers.ContentType?.MediaType);

        foreach (var body in new byte[][] { [], [5, 0, (byte)'a'], [1, 0, 0xC3] })
        {
            var content = new ByteArrayContent(body);
            content.Headers.ContentType = new MediaTypeHeaderValue(ReadBatchWire.RequestMediaType);
            using var malformed = await node.PostAsync(ReadBatchWire.Path, content);
            Assert.Equal(HttpStatusCode.BadRequest, malformed.StatusCode);
            Assert.Equal("application/problem+json", malformed.Content.Headers.ContentType?.MediaType);
        }

        // An invalid key is skipped (its own GET gets the node's 400), the others are answered.
        var key = $"coalesce-{Guid.NewGuid():N}";
        using (var writer = cluster.Client(await cluster.WaitForLeaderAsync(TimeSpan.FromSeconds(10))))
        {
            Assert.True((await writer.PutAsync($"/cache/{key}", new StringContent("abc"))).IsSuccessStatusCode);
        }

        var keys = new ByteArrayContent(ReadBatchWire.EncodeRequest([key, new string('k', 2000), key + "-missing"]));
        keys.Headers.ContentType = new MediaTypeHeaderValue(ReadBatchWire.RequestMediaType);
        using var answer = await node.PostAsync(ReadBatchWire.Path, keys);
        Assert.Equal(HttpStatusCode.OK, answer.StatusCode);
        var items = new ReadBatchWire.Item[3];
        Assert.True(ReadBatchWire.TryDecodeResponse(await answer.Content.ReadAsByteArrayAsync(), 3, out _, items));
        Assert.Equal(ReadBatchWire.Found, items[0].Status);
        Assert.Equal("abc", Encoding.UTF8.GetString(items[0].Value.Span));
        Assert.Equal(ReadBatchWire.Skipped, items[1].Status);
        Assert.Equal(ReadBatchWire.NotFound, items[2].Status);
        Assert.Equal("linearizable", answer.Headers.GetValues(CacheHeaders.Consistency).Single());

        // Stale batches: the node's state at once, with the stale read's headers; a bad `consistent` is a 400.
        var staleKeys = new ByteArrayContent(ReadBatchWire.EncodeRequest([key]));
        staleKeys.Headers.ContentType = new MediaTypeHeaderValue(ReadBatchWire.RequestMediaType);
        using var stale = await node.PostAsync(ReadBatchWire.Path + "?consistent=false", staleKeys);
        Assert.Equal(HttpStatusCode.OK, stale.StatusCode);
        Assert.Equal("stale", stale.Headers.GetValues(CacheHeaders.Consistency).Single());
        Assert.True(stale.Headers.Contains(CacheHeaders.CommitIndex));
        var badKeys = new ByteArrayContent(ReadBatchWire.EncodeRequest([key]));
        badKeys.Headers.ContentType = new MediaTypeHeaderValue(ReadBatchWire.RequestMediaType);
        using var bad = await node.PostAsync(ReadBatchWire.Path + "?consistent=maybe", badKeys);
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
    }

    [Fact]
    public async Task The_router_passes_a_clients_own_read_batch_to_the_node_its_reads_would_go_to()
    {
        var cluster = fixture.Cluster;
        await using var router = await ReadyRouter.StartAsync(cluster);
        var key = $"coalesce-{Guid.NewGuid():N}";
        Assert.True((await router.Client.PutAsync($"/cache/{key}", new StringContent("abc"))).IsSuccessStatusCode);

        static ByteArrayContent Keys(params string[] keys)
        {
            var content = new ByteArrayContent(ReadBatchWire.EncodeRequest(keys));
            content.Headers.ContentType = new MediaTypeHeaderValue(ReadBatchWire.RequestMediaType);
            return content;
        }

        // Linearizable: to the leader (Router:LinearizableReadsToLeader), answered as the node answers it.
        var leader = InProcessCluster.Ids[await cluster.WaitForLeaderAsync(TimeSpan.FromSeconds(10))];
        using var answer = await router.Client.PostAsync(ReadBatchWire.Path, Keys(key, key + "-missing"));
        Assert.Equal(HttpStatusCode.OK, answer.StatusCode);
        Assert.Equal(ReadBatchWire.ResponseMediaType, answer.Content.Headers.ContentType?.MediaType);
        Assert.Equal(leader, answer.Headers.GetValues(CacheHeaders.Node).Single());
        var items = new ReadBatchWire.Item[2];
        Assert.True(ReadBatchWire.TryDecodeResponse(await answer.Content.ReadAsByteArrayAsync(), 2, out _, items));
        Assert.Equal("abc", Encoding.UTF8.GetString(items[0].Value.Span));
        Assert.Equal(ReadBatchWire.NotFound, items[1].Status);

        // Stale: served stale; the node's own refusals come back as they are (problem+json, nothing retried).
        using var stale = await router.Client.PostAsync(ReadBatchWire.Path + "?consistent=false", Keys(key));
        Assert.Equal("stale", stale.Headers.GetValues(CacheHeaders.Consistency).Single());
        var malformed = new ByteArrayContent([5, 0, (byte)'a']);
        malformed.Headers.ContentType = new MediaTypeHeaderValue(ReadBatchWire.RequestMediaType);
        using var bad = await router.Client.PostAsync(ReadBatchWire.Path, malformed);
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        Assert.Equal("application/problem+json", bad.Content.Headers.ContentType?.MediaType);
        using var anonymous = new HttpClient { BaseAddress = router.Router.Url };
        using var unauthenticated = await anonymous.PostAsync(ReadBatchWire.Path, Keys(key));
        Assert.Equal(cluster.HasDefaultCredentials ? HttpStatusCode.Unauthorized : HttpStatusCode.OK, unauthenticated.StatusCode);
        using var get = await router.Client.GetAsync(ReadBatchWire.Path);
        Assert.Equal(HttpStatusCode.MethodNotAllowed, get.StatusCode);
        Assert.Equal("application/problem+json", get.Content.Headers.ContentType?.MediaType);
        // Whatever the client accepts (ASP.NET Core's status code pages answered plain text to this one).
        using var odd = new HttpRequestMessage(HttpMethod.Get, ReadBatchWire.Path);
        odd.Headers.TryAddWithoutValidation("Accept", "text/html");
        using var oddAnswer = await router.Client.SendAsync(odd);
        Assert.Equal(HttpStatusCode.MethodNotAllowed, oddAnswer.StatusCode);
        Assert.Equal("application/problem+json", oddAnswer.Content.Headers.ContentType?.MediaType);
    }

    private static async Task EveryNodeAppliedAsync(InProcessCluster cluster)
    {
        var revision = (await cluster.StatusAsync(await cluster.WaitForLeaderAsync(TimeSpan.FromSeconds(10)))).Revision;
        await cluster.WaitUntilAppliedAsync(revision, TimeSpan.FromSeconds(10));
    }

    private static Task<HttpResponseMessage> GetAsync(HttpClient client, string path, string? ifNoneMatch)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, path);
        if (ifNoneMatch is not null)
        {
            request.Headers.TryAddWithoutValidation("If-None-Match", ifNoneMatch);
        }

        return client.SendAsync(request);
    }

    private static SortedDictionary<string, string> Headers(HttpResponseMessage response)
    {
        var headers = new SortedDictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var (name, values) in response.Headers.Concat(response.Content.Headers))
        {
            if (!Volatile.Contains(name) && name is not ("Content-Length" or "Content-Type"))
            {
                headers[name] = string.Join(", ", values);
            }
        }

        return headers;
    }

    private static string WithoutTraceId(byte[] problem)
    {
        var json = JsonSerializer.Deserialize<Dictionary<string, JsonElement>>(problem)!;
        json.Remove("traceId");
        return string.Join("; ", json.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => $"{p.Key}={p.Value}"));
    }
}
