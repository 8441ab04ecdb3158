using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text.Json;
using System.Threading.RateLimiting;
using AspireCache.Node.Watch;
using AspireCache.Router;
using AspireCache.Router.Diagnostics;
using AspireCache.Router.RateLimiting;
using AspireCache.Tests.Watch;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace AspireCache.Tests.InProcess;

/// <summary>
/// A cluster with authentication on, at most 2 watch streams per credential per node, and a router
/// whose rate limit is tiny (a bucket of 5 requests per caller, refilled by one per 100 s): every
/// test uses its own credentials, so none spends another's budget.
/// </summary>
public sealed class RateLimitClusterFixture : IAsyncLifetime
{
    public const int Burst = 5;
    public const double PermitsPerSecond = 0.01;
    public const int WatchersPerCredential = 2;

    public static readonly string AdminKey = NewKey();
    public static readonly string RouterKey = NewKey();
    public static readonly string LimitedKey = NewKey();
    public static readonly string OtherKey = NewKey();
    public static readonly string ViewerKey = NewKey();
    public static readonly string WriteOnlyKey = NewKey();
    public static readonly string WatcherAKey = NewKey();
    public static readonly string WatcherBKey = NewKey();
    public static readonly string RoutedWatcherKey = NewKey();
    public static readonly string BatchReaderKey = NewKey();
    public static readonly string BatchWriterKey = NewKey();

    public InProcessCluster Cluster { get; private set; } = null!;

    public InProcessRouter Router { get; private set; } = null!;

    public static IReadOnlyList<string> AllKeys => [AdminKey, RouterKey, LimitedKey, OtherKey, ViewerKey, WriteOnlyKey, WatcherAKey, WatcherBKey, RoutedWatcherKey, BatchReaderKey, BatchWriterKey];

    public static Dictionary<string, string?> RouterSettings(int burst = Burst, int? maxPartitions = null)
    {
        var settings = new Dictionary<string, string?>
        {
            ["Router:Credential"] = RouterKey,
            ["Router:RateLimit:PermitsPerSecond"] = PermitsPerSecond.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Router:RateLimit:Burst"] = burst.ToString(System.Globalization.CultureInfo.InvariantCulture),
        };
        if (maxPartitions is { } max)
        {
            settings["Router:RateLimit:MaxPartitions"] = max.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }

        return settings;
    }

    public async Task InitializeAsync()
    {
        var settings = new Dictionary<string, string?> { ["Watch:MaxWatchersPerCredential"] = WatchersPerCredential.ToString(System.Globalization.CultureInfo.InvariantCulture) };
        var credentials = new (string Name, string Key, string Scopes)[]
        {
            ("ops", AdminKey, "admin"),
            ("router", RouterKey, "read"),
            ("limited", LimitedKey, "read,write"),
            ("other", OtherKey, "read,write"),
            ("viewer", ViewerKey, "read,write"),
            ("write-only", WriteOnlyKey, "write"),
            ("watcher-a", WatcherAKey, "read"),
            ("watcher-b", WatcherBKey, "read"),
            ("routed-watcher", RoutedWatcherKey, "read"),
            ("batch-reader", BatchReaderKey, "read"),
            ("batch-writer", BatchWriterKey, "read,write"),
        };
        for (var i = 0; i < credentials.Length; i++)
        {
            settings[$"Auth:Credentials:{i}:Name"] = credentials[i].Name;
            settings[$"Auth:Credentials:{i}:Key"] = credentials[i].Key;
            settings[$"Auth:Credentials:{i}:Scopes:0"] = credentials[i].Scopes;
        }

        Cluster = await InProcessCluster.StartAsync(settings, credential: AdminKey);
        Router = await InProcessRouter.StartAsync(Cluster, RouterSettings());
        await WaitUntilHealthyAsync(Router);
    }

    /// <summary>Until the router knows the leader (its <c>/health</c>, never rate limited, says Healthy): reads and watches have nodes to go to.</summary>
    public static async Task WaitUntilHealthyAsync(InProcessRouter router)
    {
        using var client = router.Client(credential: null);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (true)
        {
            using var response = await client.GetAsync("/health", cts.Token);
            if (response.IsSuccessStatusCode && await response.Content.ReadAsStringAsync(cts.Token) == "Healthy")
            {
                return;
            }

            await Task.Delay(50, cts.Token);
        }
    }

    public async Task DisposeAsync()
    {
        await Router.DisposeAsync();
        await Cluster.DisposeAsync();
    }

    public HttpClient ThroughRouter(string? key, InProcessRouter? router = null) => (router ?? Router).Client(key);

    public HttpClient Node(int index, string key)
    {
        // No draining of an unread body on dispose (2 s by default): a disposed watch closes its connection at once.
        var client = new HttpClient(new SocketsHttpHandler { MaxResponseDrainSize = 0 }) { BaseAddress = Cluster.Urls[index], Timeout = TimeSpan.FromSeconds(30) };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        return client;
    }

    public static string NewKey() => RandomNumberGenerator.GetString("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", 32);
}

/// <summary>Router rate limiting per credential, <c>/router/topology</c> behind a credential, and watch streams limited per credential on the nodes.</summary>
public sealed class RateLimitTests(RateLimitClusterFixture fixture) : IClassFixture<RateLimitClusterFixture>
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task A_clients_read_batch_costs_the_rate_limit_by_its_keys_not_one_request()
    {
        using var client = fixture.ThroughRouter(RateLimitClusterFixture.BatchReaderKey);
        static ByteArrayContent Batch(int keys)
        {
            var content = new ByteArrayContent(AspireCache.Contracts.ReadBatchWire.EncodeRequest([.. Enumerable.Range(0, keys).Select(i => $"batch/{i:D4}")]));
            content.Headers.ContentType = new MediaTypeHeaderValue(AspireCache.Contracts.ReadBatchWire.RequestMediaType);
            return content;
        }

        // 2 keys of 10 bytes (24 bytes): one permit of the bucket's 5.
        using var small = await client.PostAsync(AspireCache.Contracts.ReadBatchWire.Path, Batch(2));
        Assert.Equal(HttpStatusCode.OK, small.StatusCode);

        // 10 keys (120 bytes): 7 permits, more than the 4 left; one request all the same. Refused, nothing read.
        using var large = await client.PostAsync(AspireCache.Contracts.ReadBatchWire.Path, Batch(10));
        Assert.Equal((HttpStatusCode)429, large.StatusCode);
        Assert.Equal("application/problem+json", large.Content.Headers.ContentType?.MediaType);
        Assert.NotNull(large.Headers.RetryAfter);

        // The refusal took nothing: the 4 permits left still serve 4 single GETs.
        for (var i = 0; i < 4; i++)
        {
            using var get = await client.GetAsync("/cache/batch/0000");
            Assert.Equal(HttpStatusCode.NotFound, get.StatusCode);
        }
    }

    [Fact]
    public async Task A_clients_write_batch_costs_the_rate_limit_by_its_writes_and_must_declare_them_truly()
    {
        using var client = fixture.ThroughRouter(RateLimitClusterFixture.BatchWriterKey);
        static ByteArrayContent Batch(int writes, string prefix, int? declared)
        {
            var content = new ByteArrayContent(AspireCache.Contracts.WriteBatchWire.EncodeRequest(
                [.. Enumerable.Range(0, writes).Select(i => new AspireCache.Contracts.WriteBatchWire.Write(AspireCache.Contracts.WriteBatchWire.Put, $"{prefix}/{i}", "", null, null, null, null, "v"u8.ToArray()))]));
            content.Headers.ContentType = new MediaTypeHeaderValue(AspireCache.Contracts.WriteBatchWire.RequestMediaType);
            if (declared is { } count)
            {
                content.Headers.TryAddWithoutValidation(AspireCache.Contracts.CacheHeaders.BatchWrites, count.ToString(System.Globalization.CultureInfo.InvariantCulture));
            }

            return content;
        }

        // 2 writes, declared: 2 permits of the bucket's 5; the router passes the batch to the leader, which answers each.
        using var small = await client.PostAsync(AspireCache.Contracts.WriteBatchWire.Path, Batch(2, "wb-small", 2));
        Assert.Equal(HttpStatusCode.OK, small.StatusCode);
        Assert.Equal(AspireCache.Contracts.WriteBatchWire.ResponseMediaType, small.Content.Headers.ContentType?.MediaType);
        Assert.Equal("v", await client.GetStringAsync("/cache/wb-small/1"));

        // 4 writes: more than the 2 permits left; undeclared: as many as a batch may carry. Refused, nothing written.
        foreach (var (writes, declared) in new (int, int?)[] { (4, 4), (1, null) })
        {
            using var refused = await client.PostAsync(AspireCache.Contracts.WriteBatchWire.Path, Batch(writes, "wb-refused", declared));
            Assert.Equal((HttpStatusCode)429, refused.StatusCode);
            Assert.Equal("application/problem+json", refused.Content.Headers.ContentType?.MediaType);
        }

        // A count that is not true (1 declared, 2 carried): the node refuses the batch whole (400), nothing
        // written; straight to the leader, and through the router, which passes the header on.
        var leader = await fixture.Cluster.WaitForLeaderAsync(Timeout);
        using var toLeader = fixture.Node(leader, RateLimitClusterFixture.BatchWriterKey);
        using var viaRouter = fixture.ThroughRouter(RateLimitClusterFixture.BatchWriterKey); // one permit of the two left
        foreach (var sender in new[] { toLeader, viaRouter })
        {
            using var lying = await sender.PostAsync(AspireCache.Contracts.WriteBatchWire.Path, Batch(2, "wb-lying", 1));
            Assert.Equal(HttpStatusCode.BadRequest, lying.StatusCode);
            Assert.Equal("application/problem+json", lying.Content.Headers.ContentType?.MediaType);
        }

        foreach (var key in new[] { "wb-refused/0", "wb-lying/0", "wb-lying/1" })
        {
            using var absent = await toLeader.GetAsync($"/cache/{key}");
            Assert.Equal(HttpStatusCode.NotFound, absent.StatusCode);
        }
    }

    [Fact]
    public async Task A_credential_over_its_rate_gets_429_with_Retry_After_and_a_problem_and_changes_nothing_while_another_credential_is_served()
    {
        var rateLimited = new ConcurrentQueue<(string Route, string Caller)>();
        using var meters = Measurements.ListenTo("aspirecache.router.rate_limited", (tags, _) => rateLimited.Enqueue(((string)tags["route"]!, (string)tags["caller"]!)));

        using var limited = fixture.ThroughRouter(RateLimitClusterFixture.LimitedKey);
        using var other = fixture.ThroughRouter(RateLimitClusterFixture.OtherKey);
        var key = $"limits/{Guid.NewGuid():N}";

        // Spend the limited credential's whole bucket (a write, then reads of the key).
        Assert.Equal(HttpStatusCode.Created, (await limited.PutAsync($"/cache/{key}", new StringContent("v1"))).StatusCode);
        for (var i = 1; i < RateLimitClusterFixture.Burst; i++)
        {
            Assert.Equal(HttpStatusCode.OK, (await limited.GetAsync($"/cache/{key}")).StatusCode);
        }

        // A linearizable read on node 0 first: its revision then includes the write above.
        using var admin = fixture.Node(0, RateLimitClusterFixture.AdminKey);
        Assert.Equal("v1", await admin.GetStringAsync($"/cache/{key}"));
        var before = (await fixture.Cluster.StatusAsync(0)).Revision;

        // Over the limit: refused by the router itself, before any node sees it.
        using var refused = await limited.PutAsync($"/cache/{key}", new StringContent("v2"));
        Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
        Assert.Equal("application/problem+json", refused.Content.Headers.ContentType?.MediaType);
        var retryAfter = refused.Headers.RetryAfter?.Delta;
        Assert.NotNull(retryAfter);
        Assert.InRange(retryAfter.Value, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1 / RateLimitClusterFixture.PermitsPerSecond));
        var problem = await refused.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(ProblemTypes.Base + "rate-limited", problem.GetProperty("type").GetString());
        Assert.Equal(429, problem.GetProperty("status").GetInt32());
        Assert.False(string.IsNullOrEmpty(problem.GetProperty("title").GetString()));
        var raw = problem.GetRawText();
        Assert.Contains("requests per second", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.False(problem.TryGetProperty("exception", out _));
        Assert.DoesNotContain(" at ", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.All(RateLimitClusterFixture.AllKeys, k => Assert.DoesNotContain(k, raw, StringComparison.Ordinal));

        // Every kind of request of that credential is refused alike, reads and watches included.
        Assert.Equal(HttpStatusCode.TooManyRequests, (await limited.GetAsync($"/cache/{key}")).StatusCode);
        using (var watch = await limited.GetAsync($"/cache/watch?prefix={key}", HttpCompletionOption.ResponseHeadersRead))
        {
            Assert.Equal(HttpStatusCode.TooManyRequests, watch.StatusCode);
        }

        // The refused write changed nothing.
        Assert.Equal("v1", await admin.GetStringAsync($"/cache/{key}"));
        Assert.Equal(before, (await fixture.Cluster.StatusAsync(0)).Revision);

        // Another credential is served meanwhile, and sees the unchanged value.
        Assert.Equal("v1", await other.GetStringAsync($"/cache/{key}"));
        Assert.Equal(HttpStatusCode.Created, (await other.PutAsync($"/cache/{key}-other", new StringContent("o"))).StatusCode);

        // Health probes are never limited (far more of them than the bucket holds).
        using var anonymous = fixture.ThroughRouter(null);
        for (var i = 0; i < RateLimitClusterFixture.Burst * 3; i++)
        {
            Assert.Equal(HttpStatusCode.OK, (await anonymous.GetAsync("/health")).StatusCode);
        }

        Assert.Contains(("writes", "credential"), rateLimited);
        Assert.Contains(("reads", "credential"), rateLimited);
        Assert.Contains(("watch", "credential"), rateLimited);
    }

    [Fact]
    public async Task The_router_topology_needs_a_credential_the_nodes_accept_with_the_read_scope()
    {
        using var anonymous = fixture.ThroughRouter(null);
        using (var missing = await anonymous.GetAsync("/router/topology"))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, missing.StatusCode);
            Assert.Equal("Bearer", missing.Headers.WwwAuthenticate.Single().Scheme);
            Assert.Equal("application/problem+json", missing.Content.Headers.ContentType?.MediaType);
            Assert.Equal(ProblemTypes.Base + "unauthenticated", (await missing.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("type").GetString());
        }

        using var wrong = fixture.ThroughRouter(RateLimitClusterFixture.NewKey());
        using (var refused = await wrong.GetAsync("/router/topology"))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
            Assert.Contains("invalid_token", refused.Headers.WwwAuthenticate.ToString(), StringComparison.Ordinal);
        }

        using var writeOnly = fixture.ThroughRouter(RateLimitClusterFixture.WriteOnlyKey);
        using (var forbidden = await writeOnly.GetAsync("/router/topology"))
        {
            Assert.Equal(HttpStatusCode.Forbidden, forbidden.StatusCode);
            Assert.Equal(ProblemTypes.Base + "forbidden", (await forbidden.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("type").GetString());
        }

        // A write through the router waits until the router knows the leader: then the topology names it.
        using var viewer = fixture.ThroughRouter(RateLimitClusterFixture.ViewerKey);
        Assert.Equal(HttpStatusCode.Created, (await viewer.PutAsync($"/cache/topology/{Guid.NewGuid():N}", new StringContent("x"))).StatusCode);
        using var topology = JsonDocument.Parse(await viewer.GetStringAsync("/router/topology"));
        Assert.Equal(3, topology.RootElement.GetProperty("nodes").GetArrayLength());
        Assert.True(topology.RootElement.GetProperty("term").GetInt64() > 0);
    }

    [Fact]
    public async Task The_table_of_callers_is_bounded_and_callers_beyond_it_share_one_overflow_bucket()
    {
        var overflowed = 0;
        using var meters = Measurements.ListenTo("aspirecache.router.rate_limit.overflowed", (_, value) => Interlocked.Add(ref overflowed, (int)value));

        // Two callers fill the table; the third and fourth are not tracked and share the overflow bucket.
        await using var router = await InProcessRouter.StartAsync(fixture.Cluster, RateLimitClusterFixture.RouterSettings(burst: 3, maxPartitions: 2));
        await RateLimitClusterFixture.WaitUntilHealthyAsync(router);
        string[] keys = [.. Enumerable.Range(0, 4).Select(_ => RateLimitClusterFixture.NewKey())];
        var clients = keys.Select(k => fixture.ThroughRouter(k, router)).ToArray();
        try
        {
            // Unknown keys: the nodes answer 401, but every request spends its caller's token first.
            Assert.Equal(HttpStatusCode.Unauthorized, (await clients[0].GetAsync("/cache/overflow/a")).StatusCode);
            Assert.Equal(HttpStatusCode.Unauthorized, (await clients[1].GetAsync("/cache/overflow/a")).StatusCode);
            for (var i = 0; i < 3; i++)
            {
                Assert.Equal(HttpStatusCode.Unauthorized, (await clients[2].GetAsync("/cache/overflow/a")).StatusCode);
            }

            // The fourth caller never sent anything, yet its first request finds the shared bucket empty.
            Assert.Equal(HttpStatusCode.TooManyRequests, (await clients[3].GetAsync("/cache/overflow/a")).StatusCode);

            // The tracked callers keep their own buckets.
            Assert.Equal(HttpStatusCode.Unauthorized, (await clients[0].GetAsync("/cache/overflow/a")).StatusCode);
            Assert.Equal(HttpStatusCode.Unauthorized, (await clients[1].GetAsync("/cache/overflow/a")).StatusCode);
            Assert.True(Volatile.Read(ref overflowed) >= 4, $"overflowed {overflowed}");
        }
        finally
        {
            foreach (var client in clients)
            {
                client.Dispose();
            }
        }
    }

    [Fact]
    public async Task A_credential_past_its_watch_streams_on_a_node_gets_429_another_credential_still_opens_one_and_closing_one_frees_a_slot()
    {
        var refused = new ConcurrentQueue<string>();
        using var meters = Measurements.ListenTo("aspirecache.watch.refused", (tags, _) => refused.Enqueue((string)tags["reason"]!));

        const int node = 1;
        var hub = fixture.Cluster.Service<WatchHub>(node);
        using var a = fixture.Node(node, RateLimitClusterFixture.WatcherAKey);
        using var b = fixture.Node(node, RateLimitClusterFixture.WatcherBKey);
        var prefix = $"watch-limit/{Guid.NewGuid():N}/";
        var streams = new List<SseStream>();
        try
        {
            for (var i = 0; i < RateLimitClusterFixture.WatchersPerCredential; i++)
            {
                streams.Add(await OpenAsync(a, prefix));
            }

            Assert.Equal(RateLimitClusterFixture.WatchersPerCredential, hub.CountOf("watcher-a"));

            using (var over = await a.GetAsync($"/cache/watch?prefix={prefix}", HttpCompletionOption.ResponseHeadersRead))
            {
                Assert.Equal(HttpStatusCode.TooManyRequests, over.StatusCode);
                Assert.NotNull(over.Headers.RetryAfter?.Delta);
                Assert.Equal("application/problem+json", over.Content.Headers.ContentType?.MediaType);
                var problem = await over.Content.ReadFromJsonAsync<JsonElement>();
                Assert.Equal(ProblemTypes.Base + "too-many-watchers-for-credential", problem.GetProperty("type").GetString());
                Assert.Contains("'watcher-a'", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
            }

            Assert.Equal(RateLimitClusterFixture.WatchersPerCredential, hub.CountOf("watcher-a"));
            Assert.Contains("credential-limit", refused);

            // Another credential is not affected.
            streams.Add(await OpenAsync(b, prefix));
            Assert.Equal(1, hub.CountOf("watcher-b"));

            // Closing one of A's streams frees its slot (the node notices the closed request).
            await streams[0].DisposeAsync();
            streams.RemoveAt(0);
            await Poll.UntilAsync(() => hub.CountOf("watcher-a") < RateLimitClusterFixture.WatchersPerCredential, Timeout);
            streams.Add(await OpenAsync(a, prefix));
            Assert.Equal(RateLimitClusterFixture.WatchersPerCredential, hub.CountOf("watcher-a"));
        }
        finally
        {
            foreach (var stream in streams)
            {
                await stream.DisposeAsync();
            }
        }

        // Every stream closed: the per-credential table forgets both credentials (nothing leaks).
        await Poll.UntilAsync(() => hub.CountOf("watcher-a") == 0 && hub.CountOf("watcher-b") == 0, Timeout);
        using var again = fixture.Node(node, RateLimitClusterFixture.WatcherAKey);
        for (var i = 0; i < RateLimitClusterFixture.WatchersPerCredential; i++)
        {
            streams.Add(await OpenAsync(again, prefix));
        }

        foreach (var stream in streams)
        {
            await stream.DisposeAsync();
        }
    }

    [Fact]
    public async Task Through_the_router_a_watch_stream_counts_against_the_callers_credential_on_its_node_not_the_routers()
    {
        using var client = fixture.ThroughRouter(RateLimitClusterFixture.RoutedWatcherKey);
        await using var stream = await SseStream.OpenAsync(client, $"/cache/watch?prefix=routed/{Guid.NewGuid():N}/");
        using var cts = new CancellationTokenSource(Timeout);
        Assert.Equal("progress", (await stream.NextAsync(cts.Token))!.Type);

        var node = Array.IndexOf(InProcessCluster.Ids, stream.StreamId[..stream.StreamId.IndexOf('.')]);
        var hub = fixture.Cluster.Service<WatchHub>(node);
        Assert.Equal(1, hub.CountOf("routed-watcher"));
        Assert.Equal(0, hub.CountOf("router"));
    }

    /// <summary>The limiter itself: the table never exceeds its bound, idle callers are dropped, Retry-After is the wait for the next token, no allocation per request.</summary>
    [Fact]
    public async Task A_request_costing_more_than_the_burst_takes_the_whole_bucket_once_it_is_full_instead_of_never_passing()
    {
        // 100 tokens/s, a bucket of 10: a read batch costing 50 permits could never find 50 tokens.
        var options = Options.Create(new RouterRateLimitOptions { PermitsPerSecond = 100, Burst = 10 });
        using var telemetry = new RouterTelemetry(new TestMeterFactory());
        using var limiter = new CallerRateLimiter(options, telemetry, NullLogger<CallerRateLimiter>.Instance);
        var context = new DefaultHttpContext();
        context.Request.Headers.Authorization = "Bearer key-batch-0123456789abcdef";
        context.SetEndpoint(new Endpoint(_ => Task.CompletedTask, new EndpointMetadataCollection(RateLimitedEndpoint.Proxy), "test"));

        using (var batch = limiter.AttemptAcquire(context, permitCount: 50))
        {
            Assert.True(batch.IsAcquired); // a full bucket: it takes all 10
        }

        var sinceBatch = Stopwatch.StartNew();

        using (var next = limiter.AttemptAcquire(context))
        {
            Assert.False(next.IsAcquired); // nothing left until the bucket refills
            Assert.True(next.TryGetMetadata(MetadataName.RetryAfter, out var wait));
            Assert.Equal(TimeSpan.FromSeconds(1), wait); // 10 ms, named in whole seconds
        }

        // The next large request waits for the whole bucket (0.1 s here), then passes again.
        while (true)
        {
            using var again = limiter.AttemptAcquire(context, permitCount: 50);
            if (again.IsAcquired)
            {
                break;
            }

            Assert.True(again.TryGetMetadata(MetadataName.RetryAfter, out var wait) && wait <= TimeSpan.FromSeconds(1), "the wait named must be the bucket's refill, not forever");
            Assert.True(sinceBatch.Elapsed < Timeout, "a request costing more than the burst never passed");
            await Task.Delay(20);
        }

        Assert.InRange(sinceBatch.Elapsed, TimeSpan.FromMilliseconds(50), Timeout); // it waited for a refill
    }

    [Fact]
    public async Task The_limiter_bounds_its_table_drops_idle_callers_names_the_wait_leaves_unmarked_endpoints_alone_and_allocates_nothing_per_request()
    {
        var options = Options.Create(new RouterRateLimitOptions { PermitsPerSecond = 1000, Burst = 1, MaxPartitions = 3, IdleTimeout = TimeSpan.FromSeconds(1) });
        using var telemetry = new RouterTelemetry(new TestMeterFactory());
        using var limiter = new CallerRateLimiter(options, telemetry, NullLogger<CallerRateLimiter>.Instance);

        for (var i = 0; i < 10; i++)
        {
            using var lease = limiter.AttemptAcquire(Request($"Bearer key-{i}-0123456789abcdef"));
            Assert.True(lease.IsAcquired || i >= 3); // the 4th and later share the overflow bucket
            Assert.InRange(limiter.Partitions, 1, 3);
        }

        // Unmarked endpoints (health) are never limited, however often.
        for (var i = 0; i < 100; i++)
        {
            using var health = limiter.AttemptAcquire(Request("Bearer key-0-0123456789abcdef", marked: false));
            Assert.True(health.IsAcquired);
        }

        // Back-to-back requests of one caller: the second waits for the next token (1 ms here, named as 1 s).
        using (var first = limiter.AttemptAcquire(Request("Bearer key-0-0123456789abcdef")))
        using (var second = limiter.AttemptAcquire(Request("Bearer key-0-0123456789abcdef")))
        {
            if (!second.IsAcquired)
            {
                Assert.True(second.TryGetMetadata(MetadataName.RetryAfter, out var wait));
                Assert.Equal(TimeSpan.FromSeconds(1), wait);
            }
        }

        // Idle callers whose bucket refilled are dropped, and a new caller gets its own bucket again.
        var deadline = Stopwatch.StartNew();
        while (limiter.Partitions > 0)
        {
            Assert.True(deadline.Elapsed < Timeout, $"{limiter.Partitions} callers still tracked");
            limiter.Sweep();
            await Task.Delay(50);
        }

        using var fresh = limiter.AttemptAcquire(Request("Bearer key-new-0123456789abcdef"));
        Assert.True(fresh.IsAcquired);
        Assert.Equal(1, limiter.Partitions);

        // The hot path allocates nothing: hashing the key (HTTP/2: no per-connection memo), the
        // lookup, granted and refused leases alike.
        var context = Request("Bearer key-hot-0123456789abcdef");
        limiter.AttemptAcquire(context).Dispose();
        var allocated = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 1000; i++)
        {
            limiter.AttemptAcquire(context).Dispose();
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - allocated);

        static HttpContext Request(string authorization, bool marked = true)
        {
            var context = new DefaultHttpContext();
            context.Request.Headers.Authorization = authorization;
            context.Request.Protocol = "HTTP/2";
            context.SetEndpoint(new Endpoint(_ => Task.CompletedTask, marked ? new EndpointMetadataCollection(RateLimitedEndpoint.Proxy) : EndpointMetadataCollection.Empty, "test"));
            return context;
        }
    }

    private static async Task<SseStream> OpenAsync(HttpClient client, string prefix)
    {
        var stream = await SseStream.OpenAsync(client, $"/cache/watch?prefix={prefix}");
        using var cts = new CancellationTokenSource(Timeout);
        Assert.Equal("progress", (await stream.NextAsync(cts.Token))!.Type);
        return stream;
    }

    private sealed class TestMeterFactory : IMeterFactory
    {
        private readonly List<Meter> _meters = [];

        public Meter Create(MeterOptions options)
        {
            var meter = new Meter(options.Name, options.Version, options.Tags, this);
            _meters.Add(meter);
            return meter;
        }

        public void Dispose()
        {
            foreach (var meter in _meters)
            {
                meter.Dispose();
            }
        }
    }
}
