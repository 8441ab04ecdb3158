using System.Diagnostics;
using AspireCache.Client.DistributedCache;
using AspireCache.Client.Tests.Infrastructure;
using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.Caching.Hybrid;
using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Xunit.Abstractions;

namespace AspireCache.Client.Tests;

/// <summary>
/// HybridCache over <c>AddAspireCacheDistributedCache</c>, two (or three) application instances on one
/// router: L2 is shared, and with <c>InvalidateHybridCacheL1</c> a change on one instance drops the
/// other's L1 entry.
/// </summary>
[Collection(ClientClusterCollection.Name)]
public sealed class HybridCacheTests(ClusterFixture fixture, ITestOutputHelper output) : IClassFixture<ClusterFixture>
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task Instance_B_drops_its_L1_entry_when_instance_A_changes_the_key_and_an_instance_without_invalidation_keeps_the_old_value()
    {
        using var a = await StartAsync(invalidate: true);
        using var b = await StartAsync(invalidate: true);
        using var c = await StartAsync(invalidate: false);
        var hybridA = a.Services.GetRequiredService<HybridCache>();
        var hybridB = b.Services.GetRequiredService<HybridCache>();
        var hybridC = c.Services.GetRequiredService<HybridCache>();
        var factoryCallsB = 0;

        // B computes the value; A and C find it in L2 (their factories are never called).
        Assert.Equal("v1", await hybridB.GetOrCreateAsync("product/1", _ => { factoryCallsB++; return ValueTask.FromResult("v1"); }));
        await WrittenToL2Async("product/1"); // HybridCache writes a factory's result to L2 in the background
        Assert.Equal("v1", await hybridA.GetOrCreateAsync("product/1", Unexpected));
        Assert.Equal("v1", await hybridC.GetOrCreateAsync("product/1", Unexpected));
        Assert.True(b.Services.GetRequiredService<IMemoryCache>().TryGetValue("product/1", out _), "B's L1 holds the entry");

        var changed = Stopwatch.StartNew();
        await hybridA.SetAsync("product/1", "v2");
        var written = changed.Elapsed;

        var seen = await PollAsync(() => hybridB.GetOrCreateAsync("product/1", Unexpected), "v2");
        output.WriteLine($"HybridCache L1 invalidation: A's SetAsync took {written.TotalMilliseconds:0.0} ms; B returned the new value {seen.TotalMilliseconds:0.0} ms after it returned ({changed.Elapsed.TotalMilliseconds:0.0} ms after it began)");
        Assert.Equal(1, factoryCallsB);

        // Without invalidation C's L1 still answers v1: the mechanism is what makes B see v2.
        Assert.Equal("v1", await hybridC.GetOrCreateAsync("product/1", Unexpected));
    }

    [Fact]
    public async Task After_instance_A_removes_the_key_instance_B_calls_its_factory_again()
    {
        using var a = await StartAsync(invalidate: true);
        using var b = await StartAsync(invalidate: true);
        var hybridA = a.Services.GetRequiredService<HybridCache>();
        var hybridB = b.Services.GetRequiredService<HybridCache>();

        await hybridB.GetOrCreateAsync("product/2", _ => ValueTask.FromResult("old"));
        await WrittenToL2Async("product/2");
        var removed = Stopwatch.StartNew();
        await hybridA.RemoveAsync("product/2");

        var seen = await PollAsync(() => hybridB.GetOrCreateAsync("product/2", _ => ValueTask.FromResult("recomputed")), "recomputed");
        output.WriteLine($"HybridCache L1 invalidation after a remove: B recomputed {seen.TotalMilliseconds:0.0} ms after A's RemoveAsync returned ({removed.Elapsed.TotalMilliseconds:0.0} ms after it began)");
    }

    [Fact]
    public async Task An_instances_own_HybridCache_write_keeps_its_L1_entry_while_another_instance_drops_its_copy()
    {
        using var a = await StartAsync(invalidate: true);
        using var b = await StartAsync(invalidate: true);
        var hybridA = a.Services.GetRequiredService<HybridCache>();
        var hybridB = b.Services.GetRequiredService<HybridCache>();
        var invalidatorA = a.Services.GetRequiredService<HybridCacheL1Invalidator>();
        var coherenceA = a.Services.GetRequiredService<HybridCacheL1Coherence>();
        await hybridB.GetOrCreateAsync("product/own", _ => ValueTask.FromResult("b's"));
        // Let B's background L2 write and its event reach A first.
        var client = fixture.NewClient();
        var bWrote = await WrittenToL2Async("product/own");
        await PollAsync(() => ValueTask.FromResult(invalidatorA.Revision >= bWrote), true);

        await hybridA.SetAsync("product/own", "a's");
        var version = (await client.GetAsync("hc-test/product/own"))!.Version;

        // Once A's stream has delivered the write's event, A's L1 still holds the value it set, and B's copy is gone.
        await PollAsync(() => ValueTask.FromResult(invalidatorA.Revision >= version), true);
        Assert.True(a.Services.GetRequiredService<IMemoryCache>().TryGetValue("product/own", out _), "A's own write dropped A's L1 entry");
        Assert.True(coherenceA.SkippedOwnWrites >= 1);
        Assert.Equal("a's", await hybridA.GetOrCreateAsync("product/own", Unexpected));
        await PollAsync(() => hybridB.GetOrCreateAsync("product/own", Unexpected), "a's");

        // A write by plain IDistributedCache on A (not HybridCache's payload) does drop A's L1 entry.
        await a.Services.GetRequiredService<IDistributedCache>().RemoveAsync("product/own");
        await PollAsync(() => ValueTask.FromResult(!a.Services.GetRequiredService<IMemoryCache>().TryGetValue("product/own", out _)), true);
    }

    private async Task<IHost> StartAsync(bool invalidate)
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["ConnectionStrings:cache"] = fixture.ConnectionString,
            ["Aspire:AspireCache:DistributedCache:KeyPrefix"] = "hc-test/",
        });
        builder.AddAspireCacheDistributedCache("cache", s => s.InvalidateHybridCacheL1 = invalidate);
        builder.Services.AddHybridCache();
        var host = builder.Build();
        await host.StartAsync();
        return host;
    }

    /// <summary>Waits until the key is in L2 (the cluster); returns its version.</summary>
    private async Task<long> WrittenToL2Async(string key)
    {
        var client = fixture.NewClient();
        await PollAsync(async () => await client.GetAsync("hc-test/" + key) is not null, true);
        return (await client.GetAsync("hc-test/" + key))!.Version;
    }

    private static ValueTask<string> Unexpected(CancellationToken token) =>
        throw new InvalidOperationException("the factory ran: the value should have come from L1 or L2");

    private static async Task<TimeSpan> PollAsync<T>(Func<ValueTask<T>> read, T expected)
    {
        var elapsed = Stopwatch.StartNew();
        while (!EqualityComparer<T>.Default.Equals(await read(), expected))
        {
            Assert.True(elapsed.Elapsed < Deadline, $"not {expected} within {Deadline}");
            await Task.Delay(1);
        }

        return elapsed.Elapsed;
    }
}

/// <summary>The race rules of <see cref="HybridCacheL1Coherence"/>, without a cluster.</summary>
public sealed class HybridCacheL1CoherenceTests
{
    [Fact]
    public async Task A_read_overtaken_by_a_change_is_repeated_before_its_bytes_are_handed_out()
    {
        var coherence = new HybridCacheL1Coherence();
        var drops = new List<(string Key, bool Landing)>();
        coherence.Attach((key, landing) => drops.Add((key, landing)));
        var reads = 0;

        var item = await coherence.ReadAsync("k", _ =>
        {
            reads++;
            if (reads == 1)
            {
                coherence.OnChange("k", 10, removal: false); // the stream reports a write while the read is in flight
                return Task.FromResult<CacheItem?>(new CacheItem("k", "old"u8.ToArray(), 5, null));
            }

            return Task.FromResult<CacheItem?>(new CacheItem("k", "new"u8.ToArray(), 10, null));
        }, CancellationToken.None);

        Assert.Equal(2, reads);
        Assert.Equal(10, item!.Version);
        Assert.Equal(1, coherence.RepeatedReads);
        Assert.Equal([("k", false)], drops);
    }

    [Fact]
    public async Task A_read_that_found_the_key_absent_is_not_repeated_after_a_remove()
    {
        var coherence = new HybridCacheL1Coherence();
        coherence.Attach((_, _) => { });
        var reads = 0;
        await coherence.ReadAsync("k", _ =>
        {
            reads++;
            coherence.OnChange("k", 10, removal: true);
            return Task.FromResult<CacheItem?>(null);
        }, CancellationToken.None);
        Assert.Equal(1, reads);
    }

    [Fact]
    public async Task A_change_just_after_an_older_read_was_handed_out_also_removes_the_fill_when_it_lands()
    {
        var coherence = new HybridCacheL1Coherence();
        var drops = new List<(string Key, bool Landing)>();
        coherence.Attach((key, landing) => drops.Add((key, landing)));
        await coherence.ReadAsync("k", _ => Task.FromResult<CacheItem?>(new CacheItem("k", "old"u8.ToArray(), 5, null)), CancellationToken.None);

        coherence.OnChange("k", 10, removal: false);
        coherence.OnChange("other", 11, removal: false);
        Assert.Equal([("k", true), ("other", false)], drops);
    }

    [Fact]
    public void Changes_up_to_an_own_HybridCache_write_are_skipped_even_when_they_arrive_before_the_write_returns()
    {
        var coherence = new HybridCacheL1Coherence();
        var drops = new List<(string Key, bool Landing)>();
        coherence.Attach((key, landing) => drops.Add((key, landing)));

        coherence.BeginOwnWrite("k");
        coherence.OnChange("k", 7, removal: false);  // ours, before the write returned: parked
        coherence.OnChange("k", 8, removal: false);  // someone else's, also parked
        Assert.Empty(drops);
        coherence.EndOwnWrite("k", 7);
        Assert.Equal([("k", false)], drops);         // 8 dropped L1, 7 did not
        Assert.Equal(1, coherence.SkippedOwnWrites);

        coherence.OnChange("k", 6, removal: false);  // older than our write: L1 already holds newer
        Assert.Single(drops);
        coherence.OnChange("k", 9, removal: true);
        Assert.Equal(2, drops.Count);
    }

    [Fact]
    public async Task An_own_write_is_not_skipped_while_an_older_read_of_the_key_may_still_be_landing_in_L1()
    {
        var coherence = new HybridCacheL1Coherence();
        var drops = new List<(string Key, bool Landing)>();
        coherence.Attach((key, landing) => drops.Add((key, landing)));
        await coherence.ReadAsync("k", _ => Task.FromResult<CacheItem?>(new CacheItem("k", "old"u8.ToArray(), 5, null)), CancellationToken.None);

        coherence.BeginOwnWrite("k");
        coherence.OnChange("k", 7, removal: false);
        coherence.EndOwnWrite("k", 7);
        Assert.Equal([("k", true)], drops);
    }
}
