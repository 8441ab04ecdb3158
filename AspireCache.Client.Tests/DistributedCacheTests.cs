using System.Buffers;
using System.Diagnostics;
using System.Text;
using AspireCache.Client.DistributedCache;
using AspireCache.Client.Tests.Infrastructure;
using Microsoft.Extensions.Caching.Distributed;
using Xunit.Abstractions;

namespace AspireCache.Client.Tests;

/// <summary>
/// <see cref="AspireCacheDistributedCache"/> against the real router: values, linearizable removes,
/// absolute and sliding expiry over TTL, refresh coalescing by compare-and-set, typed errors.
/// </summary>
[Collection(ClientClusterCollection.Name)]
public sealed class DistributedCacheTests(ClusterFixture fixture, ITestOutputHelper output) : IClassFixture<ClusterFixture>
{
    private const string Prefix = "dc-test/";
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task Set_then_Get_returns_the_value_under_the_prefixed_key_and_Remove_makes_it_absent()
    {
        var cache = NewCache();
        var value = Encoding.UTF8.GetBytes("basket ✓");

        Assert.Null(await cache.GetAsync("basic/missing"));
        await cache.SetAsync("basic/a", value, new DistributedCacheEntryOptions());
        Assert.Equal(value, await cache.GetAsync("basic/a"));
        Assert.Equal(value, cache.Get("basic/a"));

        // Stored under the prefix with the 3-byte header of an entry without sliding expiry, and no TTL.
        var raw = await fixture.NewClient().GetAsync(Prefix + "basic/a");
        Assert.NotNull(raw);
        Assert.Equal([0xAD, 1, 0, .. value], raw.Value.ToArray());
        Assert.Null(raw.ExpiresAt);

        await cache.RemoveAsync("basic/a");
        Assert.Null(await cache.GetAsync("basic/a"));
        Assert.Null(await fixture.NewClient().GetAsync(Prefix + "basic/a"));
        await cache.RemoveAsync("basic/a"); // removing an absent entry is no error
    }

    [Fact]
    public async Task A_Remove_on_one_instance_is_never_followed_by_the_old_value_on_another()
    {
        var a = NewCache();
        var b = NewCache();
        for (var i = 0; i < 30; i++)
        {
            var value = Encoding.UTF8.GetBytes($"v{i}");
            await a.SetAsync("linearizable/k", value, new DistributedCacheEntryOptions());
            Assert.Equal(value, await b.GetAsync("linearizable/k"));
            await a.RemoveAsync("linearizable/k");
            Assert.Null(await b.GetAsync("linearizable/k"));
        }
    }

    [Fact]
    public async Task The_IBufferDistributedCache_methods_store_a_multi_segment_value_and_write_it_to_the_destination()
    {
        IBufferDistributedCache cache = NewCache();
        var first = new Segment("hello, "u8.ToArray());
        var last = first.Append("world"u8.ToArray());
        var sequence = new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length);

        await cache.SetAsync("buffers/a", sequence, new DistributedCacheEntryOptions());
        var destination = new ArrayBufferWriter<byte>();
        Assert.True(await cache.TryGetAsync("buffers/a", destination));
        Assert.Equal("hello, world", Encoding.UTF8.GetString(destination.WrittenSpan));
        Assert.False(await cache.TryGetAsync("buffers/missing", new ArrayBufferWriter<byte>()));
    }

    [Fact]
    public async Task AbsoluteExpirationRelativeToNow_is_the_key_TTL_and_the_entry_disappears_when_it_runs_out()
    {
        var cache = NewCache();
        var started = Stopwatch.StartNew();
        var before = DateTimeOffset.UtcNow;
        await cache.SetAsync("absolute/relative", "x"u8.ToArray(), new DistributedCacheEntryOptions { AbsoluteExpirationRelativeToNow = TimeSpan.FromSeconds(1.5) });

        var raw = await fixture.NewClient().GetAsync(Prefix + "absolute/relative");
        Assert.NotNull(raw);
        Assert.InRange(raw.ExpiresAt!.Value, before.AddSeconds(1), DateTimeOffset.UtcNow.AddSeconds(1.6));
        Assert.NotNull(await cache.GetAsync("absolute/relative"));

        await PollUntilAsync(async () => await cache.GetAsync("absolute/relative") is null, "the entry to expire");
        output.WriteLine($"1.5 s absolute expiry: absent {started.ElapsedMilliseconds} ms after the Set began");
        Assert.True(started.Elapsed >= TimeSpan.FromSeconds(1.4), $"expired after {started.Elapsed}: before its TTL");
    }

    [Fact]
    public async Task AbsoluteExpiration_sets_the_TTL_to_that_instant_and_a_past_one_is_refused()
    {
        var cache = NewCache();
        var at = DateTimeOffset.UtcNow.AddSeconds(30);
        await cache.SetAsync("absolute/at", "x"u8.ToArray(), new DistributedCacheEntryOptions { AbsoluteExpiration = at });
        var raw = await fixture.NewClient().GetAsync(Prefix + "absolute/at");
        Assert.InRange(raw!.ExpiresAt!.Value, at.AddSeconds(-1), at.AddSeconds(1));

        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => cache.SetAsync(
            "absolute/past", "x"u8.ToArray(), new DistributedCacheEntryOptions { AbsoluteExpiration = DateTimeOffset.UtcNow.AddSeconds(-1) }));
        Assert.Null(await fixture.NewClient().GetAsync(Prefix + "absolute/past"));
    }

    [Fact]
    public async Task A_sliding_entry_lives_while_it_is_read_and_expires_at_least_its_window_after_the_last_read()
    {
        var window = TimeSpan.FromSeconds(2);
        var cache = NewCache(); // tolerance 0.5: stored TTL 3 s, rewritten when less than 2 s remain
        await cache.SetAsync("sliding/a", "s"u8.ToArray(), new DistributedCacheEntryOptions { SlidingExpiration = window });

        // The window is stored with the value: marker, version, flags = sliding, 2000 ms.
        var raw = await fixture.NewClient().GetAsync(Prefix + "sliding/a");
        Assert.Equal(new byte[] { 0xAD, 1, 1, 0xD0, 0x07, 0, 0, 0, 0, 0, 0, (byte)'s' }, raw!.Value.ToArray());
        Assert.InRange(raw.ExpiresAt!.Value - DateTimeOffset.UtcNow, TimeSpan.FromSeconds(2.5), TimeSpan.FromSeconds(3.1));

        // Read every 300 ms for 7 s, more than twice the stored TTL: the entry never disappears.
        var reading = Stopwatch.StartNew();
        var versions = new HashSet<long>();
        var reads = 0;
        var lastRead = Stopwatch.StartNew();
        while (reading.Elapsed < TimeSpan.FromSeconds(7))
        {
            Assert.NotNull(await cache.GetAsync("sliding/a"));
            lastRead.Restart(); // the last sliding read, not the end of the loop's pause after it
            reads++;
            versions.Add((await fixture.NewClient().GetAsync(Prefix + "sliding/a"))!.Version);
            await Task.Delay(300); // the pace of the reads under test, not a synchronization
        }

        output.WriteLine($"sliding 2 s: {reads} reads over {reading.ElapsedMilliseconds} ms kept it alive with {versions.Count - 1} rewrites");
        // At most one rewrite per W × tolerance (1 s) of reading, and at least a few: it did slide.
        Assert.InRange(versions.Count - 1, 2, (int)reading.Elapsed.TotalSeconds + 1);

        // No more reads (the raw client's reads do not slide it): gone within W × 1.5 + slack, not before W.
        await PollUntilAsync(async () => await fixture.NewClient().GetAsync(Prefix + "sliding/a") is null, "the idle sliding entry to expire");
        output.WriteLine($"sliding 2 s: absent {lastRead.ElapsedMilliseconds} ms after the last read");
        Assert.True(lastRead.Elapsed >= window - TimeSpan.FromMilliseconds(200), $"expired {lastRead.Elapsed} after the last read: less than its window");
        Assert.True(lastRead.Elapsed <= TimeSpan.FromSeconds(3) + TimeSpan.FromSeconds(2), $"expired {lastRead.Elapsed} after the last read");
    }

    [Fact]
    public async Task Sliding_refreshes_are_coalesced_to_one_compare_and_set_write_per_version_across_instances()
    {
        var window = TimeSpan.FromSeconds(4);
        var a = NewCache();
        var b = NewCache();
        var client = fixture.NewClient();
        await a.SetAsync("coalesce/k", "c"u8.ToArray(), new DistributedCacheEntryOptions { SlidingExpiration = window });
        var v1 = (await client.GetAsync(Prefix + "coalesce/k"))!.Version;

        // More than W remains (the TTL is 6 s): 40 concurrent reads on two instances write nothing.
        await Task.WhenAll(Enumerable.Range(0, 40).Select(i => (i % 2 == 0 ? a : b).GetAsync("coalesce/k")));
        Assert.Equal(v1, (await client.GetAsync(Prefix + "coalesce/k"))!.Version);

        // Once less than W remains, 40 concurrent reads on two instances make exactly one write.
        await PollUntilAsync(async () => (await client.GetAsync(Prefix + "coalesce/k"))!.ExpiresAt!.Value - DateTimeOffset.UtcNow < window - TimeSpan.FromMilliseconds(200), "less than the window to remain");
        await Task.WhenAll(Enumerable.Range(0, 40).Select(i => (i % 2 == 0 ? a : b).GetAsync("coalesce/k")));
        var after = (await client.GetAsync(Prefix + "coalesce/k"))!;
        Assert.True(after.Version > v1, "no refresh was written");
        Assert.InRange(after.ExpiresAt!.Value - DateTimeOffset.UtcNow, TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(6.1));

        // Every change of the key after v1, up to the refreshed version: exactly one put.
        var puts = 0;
        using var cts = new CancellationTokenSource(Deadline);
        await foreach (var change in client.WatchAsync(new WatchRequest { Keys = [Prefix + "coalesce/k"], AfterRevision = v1, Values = false }, cts.Token))
        {
            if (change.Type == WatchEventType.Put)
            {
                puts++;
            }

            if (change.Revision >= after.Version && change.Type != WatchEventType.Resync)
            {
                break;
            }
        }

        output.WriteLine($"coalescing: 80 reads, {puts} refresh write(s), version {v1} → {after.Version}");
        Assert.Equal(1, puts);
    }

    [Fact]
    public async Task A_refresh_racing_a_Remove_never_resurrects_the_key()
    {
        var other = fixture.NewClient();
        var removeAfterRead = false;
        string? versionRead = null;
        var refreshAttempts = new List<string>();
        var spy = new Spy(async (request, response) =>
        {
            if (request.Method == HttpMethod.Get && request.RequestUri!.AbsolutePath.EndsWith("/race/k", StringComparison.Ordinal) && removeAfterRead)
            {
                // The read has its answer; the key is removed before the refresh is sent.
                removeAfterRead = false;
                versionRead = response.Headers.ETag!.Tag;
                Assert.True(await other.DeleteAsync(Prefix + "race/k"));
            }

            if (request.Method == HttpMethod.Put && request.Headers.TryGetValues("If-Match", out var match))
            {
                lock (refreshAttempts)
                {
                    refreshAttempts.Add($"{match.Single()} → {(int)response.StatusCode}");
                }
            }
        });
        var cache = new AspireCacheDistributedCache(
            new AspireCacheClient(new HttpClient(spy) { BaseAddress = fixture.Router.Url, Timeout = Timeout.InfiniteTimeSpan }, fixture.WithCredential()),
            new AspireCacheDistributedCacheSettings { KeyPrefix = Prefix, SlidingExpirationTolerance = 0 });

        // Tolerance 0, window 10 s: a rewrite is due once 100 ms of the window have passed.
        await cache.SetAsync("race/k", "alive"u8.ToArray(), new DistributedCacheEntryOptions { SlidingExpiration = TimeSpan.FromSeconds(10) });
        await PollUntilAsync(async () => (await other.GetAsync(Prefix + "race/k"))!.ExpiresAt!.Value - DateTimeOffset.UtcNow < TimeSpan.FromSeconds(9.7), "the rewrite to be due");

        removeAfterRead = true;
        Assert.Equal("alive"u8.ToArray(), await cache.GetAsync("race/k")); // the value as it was when read; no error

        // One refresh was sent, conditional on the version the read saw, and refused: the key stays removed.
        Assert.Equal([versionRead + " → 412"], refreshAttempts);
        Assert.Null(await other.GetAsync(Prefix + "race/k"));
        Assert.Null(await cache.GetAsync("race/k"));
    }

    [Fact]
    public async Task The_clients_typed_errors_propagate()
    {
        var cache = NewCache();
        await Assert.ThrowsAsync<TooLargeException>(() => cache.SetAsync("errors/big", new byte[(1024 * 1024) + 1], new DistributedCacheEntryOptions()));
        await Assert.ThrowsAsync<InvalidKeyException>(() => cache.GetAsync("errors/\u0001"));

        var unreachable = new AspireCacheDistributedCache(
            new AspireCacheClient(new HttpClient { BaseAddress = new Uri("http://127.0.0.1:1"), Timeout = Timeout.InfiniteTimeSpan }, new AspireCacheClientOptions { Deadline = TimeSpan.FromSeconds(1) }),
            new AspireCacheDistributedCacheSettings { KeyPrefix = Prefix });
        await Assert.ThrowsAsync<UnavailableException>(() => unreachable.GetAsync("errors/any"));
        Assert.Throws<UnavailableException>(() => unreachable.Refresh("errors/any"));
        await Assert.ThrowsAnyAsync<AspireCacheException>(() => unreachable.SetAsync("errors/any", "x"u8.ToArray(), new DistributedCacheEntryOptions()));
    }

    private AspireCacheDistributedCache NewCache(double tolerance = 0.5) =>
        new(fixture.NewClient(), new AspireCacheDistributedCacheSettings { KeyPrefix = Prefix, SlidingExpirationTolerance = tolerance });

    private static async Task PollUntilAsync(Func<Task<bool>> condition, string what)
    {
        var deadline = Stopwatch.StartNew();
        while (!await condition())
        {
            Assert.True(deadline.Elapsed < Deadline, $"timed out after {Deadline} waiting for {what}");
            await Task.Delay(20);
        }
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(byte[] bytes) => Memory = bytes;

        public Segment Append(byte[] bytes)
        {
            var next = new Segment(bytes) { RunningIndex = RunningIndex + Memory.Length };
            Next = next;
            return next;
        }
    }

    private sealed class Spy(Func<HttpRequestMessage, HttpResponseMessage, Task> after) : DelegatingHandler(new SocketsHttpHandler())
    {
        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var response = await base.SendAsync(request, cancellationToken);
            await after(request, response);
            return response;
        }
    }
}
