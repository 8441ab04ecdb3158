using System.Diagnostics;
using System.Text;
using AspireCache.Client.Tests.Infrastructure;
using Xunit.Abstractions;

namespace AspireCache.Client.Tests;

/// <summary>
/// The near cache through the real router: exact after every acknowledged write (linearizable mode),
/// local within the staleness bound, bounded in size, TTL keys never kept, and local hits reported.
/// </summary>
[Collection(ClientClusterCollection.Name)]
public sealed class NearCacheTests(ClusterFixture fixture, ITestOutputHelper output) : IClassFixture<ClusterFixture>
{
    private static readonly ReadOptions Linearizable = new() { Consistency = Consistency.LinearizableNearCache };

    private AspireCacheClient NearClient(string prefix, Action<NearCacheOptions>? configure = null)
    {
        var near = new NearCacheOptions { Prefixes = [prefix] };
        configure?.Invoke(near);
        return fixture.NewClient(new AspireCacheClientOptions { NearCache = near });
    }

    private static string Text(CacheItem? item) => item is null ? "<absent>" : Encoding.UTF8.GetString(item.Value.Span);

    [Fact]
    public async Task A_linearizable_near_cache_read_returns_every_acknowledged_write_and_delete_and_answers_hits_locally()
    {
        var prefix = $"near/{Guid.NewGuid():N}/";
        await using var reader = NearClient(prefix);
        var writer = fixture.NewClient();
        var key = prefix + "setting";

        // The near cache keeps values only once its watch stream runs (until then every read goes to the
        // cluster, correctly, and nothing is cached): under CI load that took longer than the first reads.
        Assert.True(await reader.NearCache!.Store.WaitForAsync(0, TimeSpan.FromSeconds(10), CancellationToken.None), "the near cache's watch did not start");

        for (var i = 0; i < 30; i++)
        {
            var version = await writer.SetAsync(key, Encoding.UTF8.GetBytes($"v{i}"));
            var read = await reader.GetAsync(key, Linearizable);
            Assert.Equal($"v{i}", Text(read));
            Assert.Equal(version, read!.Version);

            // Read again: the same value, now from the near cache (the entry is there).
            Assert.Equal($"v{i}", Text(await reader.GetAsync(key, Linearizable)));
            Assert.True(reader.NearCache!.Store.TryGet(key, out var entry), "the key should be cached after a read");
            Assert.Equal(version, entry.Version);
        }

        await writer.DeleteAsync(key);
        Assert.Null(await reader.GetAsync(key, Linearizable));

        // A batch is seen whole.
        var batch = await writer.BatchAsync(new Dictionary<string, ReadOnlyMemory<byte>> { [prefix + "a"] = "A"u8.ToArray(), [prefix + "b"] = "B"u8.ToArray() });
        Assert.Equal(batch, (await reader.GetAsync(prefix + "a", Linearizable))!.Version);
        Assert.Equal(batch, (await reader.GetAsync(prefix + "b", Linearizable))!.Version);
    }

    [Fact]
    public async Task Concurrent_linearizable_reads_share_progress_requests()
    {
        var prefix = $"near/{Guid.NewGuid():N}/";
        await using var reader = NearClient(prefix);
        var writer = fixture.NewClient();
        await writer.SetAsync(prefix + "k", "x"u8.ToArray());
        Assert.Equal("x", Text(await reader.GetAsync(prefix + "k", Linearizable)));

        var probesBefore = Interlocked.Read(ref ProbesOf(reader));
        var stopwatch = Stopwatch.StartNew();
        var reads = await Task.WhenAll(Enumerable.Range(0, 200).Select(_ => reader.GetAsync(prefix + "k", Linearizable)));
        var probes = Interlocked.Read(ref ProbesOf(reader)) - probesBefore;
        output.WriteLine($"200 concurrent linearizable near-cache reads: {probes} progress requests, {stopwatch.ElapsedMilliseconds} ms");
        Assert.All(reads, r => Assert.Equal("x", Text(r)));
        Assert.InRange(probes, 1, 50);
    }

    [Fact]
    public async Task Bounded_staleness_reads_are_local_within_the_bound_and_see_writes_older_than_it()
    {
        var prefix = $"near/{Guid.NewGuid():N}/";
        await using var reader = NearClient(prefix);
        var writer = fixture.NewClient();
        var key = prefix + "k";
        await writer.SetAsync(key, "1"u8.ToArray());
        // Until its watch runs, every read asks for progress (and goes to the cluster): not what is measured below.
        Assert.True(await reader.NearCache!.Store.WaitForAsync(0, TimeSpan.FromSeconds(10), CancellationToken.None), "the near cache's watch did not start");
        var bounded = new ReadOptions { Consistency = Consistency.BoundedStaleness, MaxStaleness = TimeSpan.FromSeconds(2) };
        Assert.Equal("1", Text(await reader.GetAsync(key, bounded)));

        // Within the bound: reads cost (almost) no progress requests: one background refresh per half bound
        // at most (1 s here), however long 1,000 local reads take on a loaded machine, not one per read.
        var probesBefore = Interlocked.Read(ref ProbesOf(reader));
        var reading = Stopwatch.StartNew();
        for (var i = 0; i < 1000; i++)
        {
            Assert.Equal("1", Text(await reader.GetAsync(key, bounded)));
        }

        var probes = Interlocked.Read(ref ProbesOf(reader)) - probesBefore;
        output.WriteLine($"1,000 bounded-staleness reads: {probes} progress requests, {reading.ElapsedMilliseconds} ms");
        Assert.InRange(probes, 0, 3 + (long)reading.Elapsed.TotalSeconds);

        // A write acknowledged more than the bound ago is always visible.
        await writer.SetAsync(key, "2"u8.ToArray());
        await Task.Delay(TimeSpan.FromSeconds(2.1));
        Assert.Equal("2", Text(await reader.GetAsync(key, bounded)));
    }

    [Fact]
    public async Task Keys_with_a_TTL_are_not_kept_and_disappear_at_expiry()
    {
        var prefix = $"near/{Guid.NewGuid():N}/";
        await using var reader = NearClient(prefix);
        var writer = fixture.NewClient();
        var key = prefix + "ttl";
        await writer.SetAsync(key, "t"u8.ToArray(), new SetOptions { Ttl = TimeSpan.FromSeconds(1) });
        Assert.Equal("t", Text(await reader.GetAsync(key, Linearizable)));
        Assert.False(reader.NearCache!.Store.TryGet(key, out _));

        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (await reader.GetAsync(key, Linearizable) is not null)
        {
            Assert.True(DateTime.UtcNow < deadline, "the key did not expire");
            await Task.Delay(50);
        }
    }

    [Fact]
    public async Task The_near_cache_stays_within_its_entry_bound_and_evicted_keys_are_read_again_correctly()
    {
        var prefix = $"near/{Guid.NewGuid():N}/";
        await using var reader = NearClient(prefix, o => o.MaxEntries = 20);
        var writer = fixture.NewClient();
        await writer.BatchAsync(Enumerable.Range(0, 60).ToDictionary(i => $"{prefix}{i:D2}", i => (ReadOnlyMemory<byte>)Encoding.UTF8.GetBytes($"{i}")));
        for (var round = 0; round < 2; round++)
        {
            for (var i = 0; i < 60; i++)
            {
                Assert.Equal($"{i}", Text(await reader.GetAsync($"{prefix}{i:D2}", Linearizable)));
                Assert.InRange(reader.NearCache!.Store.Count, 0, 20);
            }
        }

        Assert.True(Interlocked.Read(ref reader.NearCache!.Store.Evictions) > 0);
    }

    [Fact]
    public async Task Hot_keys_outside_the_prefixes_are_cached_automatically_and_local_hits_are_reported_to_the_cluster()
    {
        var key = $"hot-{Guid.NewGuid():N}";
        await using var reader = fixture.NewClient(new AspireCacheClientOptions
        {
            NearCache = new NearCacheOptions { HotKeys = 4, HotKeyInterval = TimeSpan.FromMilliseconds(200), AccessReportInterval = TimeSpan.FromMilliseconds(200) },
        });
        var writer = fixture.NewClient();
        await writer.SetAsync(key, "h"u8.ToArray());

        var deadline = DateTime.UtcNow.AddSeconds(15);
        while (!reader.NearCache!.Store.TryGet(key, out _))
        {
            Assert.True(DateTime.UtcNow < deadline, "the hot key was never cached");
            Assert.Equal("h", Text(await reader.GetAsync(key, Linearizable)));
            await Task.Delay(20);
        }

        // Exact once cached: a write is seen by the next read.
        await writer.SetAsync(key, "h2"u8.ToArray());
        Assert.Equal("h2", Text(await reader.GetAsync(key, Linearizable)));

        // Local hits reach the cluster's hot-key statistics.
        for (var i = 0; i < 500; i++)
        {
            await reader.GetAsync(key, new ReadOptions { Consistency = Consistency.Stale });
        }

        using var http = fixture.Router.Client();
        while (true)
        {
            var hot = await http.GetStringAsync("/cache/hot?count=20");
            if (hot.Contains(key, StringComparison.Ordinal))
            {
                break;
            }

            Assert.True(DateTime.UtcNow < deadline, "local hits never reached GET /cache/hot: " + hot);
            await Task.Delay(100);
        }
    }

    [Fact]
    public async Task A_malformed_or_oversized_access_report_is_a_400_problem()
    {
        using var http = fixture.Router.Client();
        var empty = await http.PostAsync("/cache/hot", new StringContent("{}", Encoding.UTF8, "application/json"));
        Assert.Equal(400, (int)empty.StatusCode);
        Assert.Equal("application/problem+json", empty.Content.Headers.ContentType?.MediaType);

        var tooMany = "{\"keys\":{" + string.Join(',', Enumerable.Range(0, 5000).Select(i => $"\"k{i}\":1")) + "}}";
        var big = await http.PostAsync("/cache/hot", new StringContent(tooMany, Encoding.UTF8, "application/json"));
        Assert.Equal(400, (int)big.StatusCode);

        var fine = await http.PostAsync("/cache/hot", new StringContent("{\"keys\":{\"near/x\":3}}", Encoding.UTF8, "application/json"));
        Assert.Equal(204, (int)fine.StatusCode);
    }

    private static ref long ProbesOf(AspireCacheClient client) => ref client.NearCache!.Probes.Sent;
}
