using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using AspireCache.Client.Tests.Infrastructure;

namespace AspireCache.Client.Tests;

/// <summary>
/// 429 (a credential over the router's rate, or over a node's watch streams): the client waits at
/// least the server's Retry-After before trying again within its deadline, and otherwise throws
/// <see cref="RateLimitedException"/> carrying <see cref="RateLimitedException.RetryAfter"/>.
/// </summary>
[Collection(ClientClusterCollection.Name)]
public sealed class RateLimitClientTests
{
    private static readonly Uri Base = new("http://cache.test/");

    [Fact]
    public async Task A_429_whose_Retry_After_outlasts_the_deadline_throws_RateLimitedException_at_once_with_the_wait()
    {
        var handler = new ScriptedHandler(_ => TooManyRequests(TimeSpan.FromSeconds(30)));
        await using var client = new AspireCacheClient(new HttpClient(handler) { BaseAddress = Base }, new AspireCacheClientOptions { Deadline = TimeSpan.FromSeconds(10) });

        var elapsed = Stopwatch.StartNew();
        var refused = await Assert.ThrowsAsync<RateLimitedException>(() => client.GetAsync("a/b"));
        Assert.True(elapsed.Elapsed < TimeSpan.FromSeconds(5), $"took {elapsed.Elapsed}: the client waited for a retry that could not happen in time");
        Assert.Equal(429, refused.Status);
        Assert.Equal(TimeSpan.FromSeconds(30), refused.RetryAfter);
        Assert.Equal(ProblemTypes.Base + "rate-limited", refused.Type);
        Assert.Contains("Too many requests", refused.Message, StringComparison.Ordinal);
        Assert.Single(handler.Requests);

        // A write is refused alike (it was not applied: not an "outcome unknown").
        await Assert.ThrowsAsync<RateLimitedException>(() => client.SetAsync("a/b", "v"u8.ToArray()));
    }

    [Fact]
    public async Task A_429_is_retried_no_sooner_than_its_Retry_After_with_the_same_idempotency_key()
    {
        var handler = new ScriptedHandler(n => n == 0
            ? TooManyRequests(TimeSpan.FromSeconds(1))
            : new HttpResponseMessage(HttpStatusCode.Created) { Headers = { ETag = new EntityTagHeaderValue("\"7\"") } });
        await using var client = new AspireCacheClient(new HttpClient(handler) { BaseAddress = Base }, new AspireCacheClientOptions { Deadline = TimeSpan.FromSeconds(10) });

        await client.SetAsync("a/b", "v"u8.ToArray());

        Assert.Equal(2, handler.Requests.Count);
        var (first, second) = (handler.Requests.ElementAt(0), handler.Requests.ElementAt(1));
        Assert.True(second.At - first.At >= TimeSpan.FromSeconds(0.95), $"retried after {second.At - first.At}");
        Assert.NotNull(first.IdempotencyKey);
        Assert.Equal(first.IdempotencyKey, second.IdempotencyKey);
    }

    [Fact]
    public async Task A_watch_refused_with_429_reconnects_after_Retry_After()
    {
        var handler = new ScriptedHandler(n => n == 0
            ? TooManyRequests(TimeSpan.FromSeconds(1))
            : new HttpResponseMessage(HttpStatusCode.OK)
            {
                Content = new StringContent("event: progress\ndata: {\"revision\":5,\"streamId\":\"node1.x-1\"}\nid: 5\n\n", Encoding.UTF8, "text/event-stream"),
            });
        await using var client = new AspireCacheClient(new HttpClient(handler) { BaseAddress = Base, Timeout = Timeout.InfiniteTimeSpan });

        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await foreach (var e in client.WatchAsync(new WatchRequest { Prefixes = ["a/"] }, cts.Token))
        {
            Assert.Equal(WatchEventType.Progress, e.Type);
            Assert.Equal(5, e.Revision);
            break;
        }

        Assert.Equal(2, handler.Requests.Count);
        var (first, second) = (handler.Requests.ElementAt(0), handler.Requests.ElementAt(1));
        Assert.True(second.At - first.At >= TimeSpan.FromSeconds(0.95), $"reconnected after {second.At - first.At}");
    }

    [Fact]
    public async Task A_watch_refused_with_429_for_a_whole_deadline_throws_RateLimitedException()
    {
        var handler = new ScriptedHandler(_ => TooManyRequests(TimeSpan.FromSeconds(1)));
        await using var client = new AspireCacheClient(
            new HttpClient(handler) { BaseAddress = Base, Timeout = Timeout.InfiniteTimeSpan },
            new AspireCacheClientOptions { Deadline = TimeSpan.FromSeconds(2) });

        var refused = await Assert.ThrowsAsync<RateLimitedException>(async () =>
        {
            await foreach (var _ in client.WatchAsync(new WatchRequest { Prefixes = ["a/"] }))
            {
            }
        });
        Assert.Equal(TimeSpan.FromSeconds(1), refused.RetryAfter);
        Assert.InRange(handler.Requests.Count, 2, 4); // about one attempt per Retry-After, not a tight loop
    }

    /// <summary>Through the real router with a tiny rate (2 requests, then one per 100 s): the client surfaces the router's 429.</summary>
    [Fact]
    public async Task Through_a_rate_limited_router_the_client_throws_RateLimitedException_with_the_routers_Retry_After()
    {
        const string ClientKey = "client-key-0123456789abcdef";
        const string OtherKey = "other-key-0123456789abcdef";
        await using var cluster = await InProcessCluster.StartAsync(
            new Dictionary<string, string?>
            {
                ["Auth:Credentials:0:Name"] = "client",
                ["Auth:Credentials:0:Key"] = ClientKey,
                ["Auth:Credentials:0:Scopes:0"] = "read,write",
                ["Auth:Credentials:1:Name"] = "other",
                ["Auth:Credentials:1:Key"] = OtherKey,
                ["Auth:Credentials:1:Scopes:0"] = "read",
                ["Auth:Credentials:2:Name"] = "router",
                ["Auth:Credentials:2:Key"] = InProcessCluster.DefaultRouterKey,
                ["Auth:Credentials:2:Scopes:0"] = "read",
            },
            credential: ClientKey);
        await using var router = await InProcessRouter.StartAsync(cluster, new Dictionary<string, string?>
        {
            ["Router:Credential"] = InProcessCluster.DefaultRouterKey,
            ["Router:RateLimit:PermitsPerSecond"] = "0.01",
            ["Router:RateLimit:Burst"] = "2",
        });
        await using var client = new AspireCacheClient(new HttpClient { BaseAddress = router.Url }, new AspireCacheClientOptions { Credential = ClientKey });

        // The router's buckets are per credential: this key's bucket holds two requests.
        await client.SetAsync("limited/a", "1"u8.ToArray());
        Assert.Equal("1"u8.ToArray(), (await client.GetAsync("limited/a"))!.Value.ToArray());

        var refused = await Assert.ThrowsAsync<RateLimitedException>(() => client.GetAsync("limited/a"));
        Assert.Equal(429, refused.Status);
        Assert.NotNull(refused.RetryAfter);
        Assert.InRange(refused.RetryAfter.Value, TimeSpan.FromSeconds(11), TimeSpan.FromSeconds(100)); // beyond the 10 s deadline: thrown at once
        Assert.Equal(ProblemTypes.Base + "rate-limited", refused.Type);

        // Another credential still gets through the same router.
        await using var other = new AspireCacheClient(new HttpClient { BaseAddress = router.Url }, new AspireCacheClientOptions { Credential = OtherKey });
        Assert.Equal("1"u8.ToArray(), (await other.GetAsync("limited/a"))!.Value.ToArray());
    }

    private static HttpResponseMessage TooManyRequests(TimeSpan retryAfter) => new(HttpStatusCode.TooManyRequests)
    {
        Headers = { RetryAfter = new RetryConditionHeaderValue(retryAfter) },
        Content = new StringContent(
            $$"""{"type":"{{ProblemTypes.Base}}rate-limited","title":"Too many requests","status":429,"detail":"Over the limit."}""",
            Encoding.UTF8,
            "application/problem+json"),
    };

    /// <summary>Answers each request with the next scripted response and records when it came.</summary>
    private sealed class ScriptedHandler(Func<int, HttpResponseMessage> script) : HttpMessageHandler
    {
        private readonly Stopwatch _clock = Stopwatch.StartNew();
        private int _count;

        public ConcurrentQueue<(TimeSpan At, string? IdempotencyKey)> Requests { get; } = new();

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            Requests.Enqueue((_clock.Elapsed, request.Headers.TryGetValues(CacheHeaders.IdempotencyKey, out var keys) ? keys.Single() : null));
            var response = script(Interlocked.Increment(ref _count) - 1);
            response.RequestMessage = request;
            return Task.FromResult(response);
        }
    }
}
