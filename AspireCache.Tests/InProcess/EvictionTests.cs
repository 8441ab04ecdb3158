using System.Net;

namespace AspireCache.Tests.InProcess;

/// <summary>LRU eviction under a memory budget, decided by the leader and identical on every replica.</summary>
[Collection(InProcessCollection.Name)]
public sealed class EvictionTests
{
    private const int ValueBytes = 500;

    [Fact]
    public async Task Over_budget_the_least_recently_used_unpinned_keys_are_evicted_identically_everywhere()
    {
        // Each entry accounts for ~650 bytes: 60 entries fit in 40 kB, 100 do not.
        await using var cluster = await InProcessCluster.StartAsync(new Dictionary<string, string?>
        {
            ["Cache:Eviction:MemoryBudgetBytes"] = "40000",
            ["Cache:Eviction:HardLimitFactor"] = "3",
            ["Cache:Eviction:Interval"] = "00:00:00.100",
        });
        var leader = await cluster.WaitForLeaderAsync(TimeSpan.FromSeconds(10));
        using var client = cluster.Client(leader);
        using var follower = cluster.Client((leader + 1) % 3);
        var value = new string('v', ValueBytes);

        await client.PutAsync("/cache/pinned/config?pin=true", new StringContent(value));
        for (var i = 0; i < 10; i++)
        {
            (await client.PutAsync($"/cache/hot/{i}", new StringContent(value))).EnsureSuccessStatusCode();
        }

        for (var i = 0; i < 40; i++)
        {
            (await client.PutAsync($"/cache/cold/{i}", new StringContent(value))).EnsureSuccessStatusCode();
        }

        // The hot keys are read through a follower: recency must reach the leader.
        await Task.Delay(50);
        for (var round = 0; round < 3; round++)
        {
            for (var i = 0; i < 10; i++)
            {
                await follower.GetStringAsync($"/cache/hot/{i}");
            }
        }

        await Task.Delay(600); // one access report interval (and then some)
        for (var i = 0; i < 50; i++)
        {
            (await client.PutAsync($"/cache/new/{i}", new StringContent(value))).EnsureSuccessStatusCode();
        }

        // Eviction converges under the budget.
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        while (true)
        {
            if ((await cluster.StatusAsync(leader)).SizeBytes <= 40_000)
            {
                break;
            }

            await Task.Delay(100, cts.Token);
        }

        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/cache/pinned/config")).StatusCode);
        for (var i = 0; i < 10; i++)
        {
            Assert.Equal(HttpStatusCode.OK, (await client.GetAsync($"/cache/hot/{i}")).StatusCode);
        }

        var coldLeft = 0;
        for (var i = 0; i < 40; i++)
        {
            coldLeft += (await client.GetAsync($"/cache/cold/{i}")).StatusCode == HttpStatusCode.OK ? 1 : 0;
        }

        Assert.True(coldLeft < 40, "cold keys should have been evicted first");

        // Every replica holds exactly the same keys at the same revision.
        await client.GetAsync("/cache/sync");
        var statuses = await Task.WhenAll(Enumerable.Range(0, 3).Select(async n =>
        {
            using var c = cluster.Client(n);
            await c.GetAsync("/cache/sync"); // linearizable: applied everything
            return await cluster.StatusAsync(n);
        }));
        Assert.Single(statuses.Select(s => (s.Revision, s.Keys)).Distinct());
    }

    [Fact]
    public async Task A_write_that_can_never_fit_the_budget_is_507_and_changes_nothing()
    {
        await using var cluster = await InProcessCluster.StartAsync(new Dictionary<string, string?>
        {
            ["Cache:Eviction:MemoryBudgetBytes"] = "10000",
        });
        var leader = await cluster.WaitForLeaderAsync(TimeSpan.FromSeconds(10));
        using var client = cluster.Client(leader);
        var before = (await cluster.StatusAsync(leader)).Revision;

        var response = await client.PutAsync("/cache/too-big-for-budget", new ByteArrayContent(new byte[20_000]));

        Assert.Equal(HttpStatusCode.InsufficientStorage, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal(before, (await cluster.StatusAsync(leader)).Revision);
    }
}
