using System.Text;
using AspireCache.Client.Tests.Infrastructure;

namespace AspireCache.Client.Tests;

/// <summary>Writes through the client while the leader is stopped: each acknowledged write is applied exactly once.</summary>
[Collection(ClientClusterCollection.Name)]
public sealed class ExactlyOnceTests(ClusterFixture fixture) : IClassFixture<ClusterFixture>
{
    [Fact]
    public Task Every_write_acknowledged_through_the_router_across_a_leader_stop_is_applied_exactly_once()
        => WriteAcrossLeaderStopAsync(fixture, direct: false);

    /// <summary>
    /// Without the router, the client's own rules do the work: 421 → the leader's URL, its loss →
    /// connection failures and 503s until a new leader, all with one idempotency key per write.
    /// </summary>
    internal static async Task WriteAcrossLeaderStopAsync(ClusterFixture fixture, bool direct)
    {
        var cluster = fixture.Cluster;
        var options = fixture.WithCredential(new AspireCacheClientOptions { Deadline = TimeSpan.FromSeconds(20) });
        var firstLeader = await cluster.WaitForLeaderAsync(TimeSpan.FromSeconds(10));
        var client = direct
            ? new AspireCacheClient(new HttpClient { BaseAddress = cluster.Urls[(firstLeader + 1) % 3] }, options)
            : fixture.NewClient(options);
        long retries = 0;
        using var listener = new System.Diagnostics.Metrics.MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == AspireCacheClientTelemetry.Name && instrument.Name == "aspirecache.client.retries")
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((_, value, _, _) => Interlocked.Add(ref retries, value));
        listener.Start();
        var start = (await client.ListPageAsync("eo/", limit: 1)).Revision;

        // Sequential writes to distinct keys: single puts and 2-key batches. Each records the
        // version it was acknowledged at.
        var acknowledged = new Dictionary<string, long>();
        var applied = 0;
        var unknown = new List<string>();
        var leader = firstLeader;
        const int Writes = 120;
        for (var i = 0; i < Writes; i++)
        {
            if (i == 40)
            {
                // Mid-writes: the leader goes away without warning the client.
                _ = cluster.StopNodeAsync(leader);
            }

            try
            {
                if (i % 2 == 0)
                {
                    var key = $"eo/p{i:D3}";
                    acknowledged[key] = await client.SetAsync(key, Encoding.UTF8.GetBytes(key));
                }
                else
                {
                    string[] keys = [$"eo/b{i:D3}/1", $"eo/b{i:D3}/2"];
                    var revision = await client.BatchAsync(keys.ToDictionary(k => k, k => (ReadOnlyMemory<byte>)Encoding.UTF8.GetBytes(k)));
                    foreach (var key in keys)
                    {
                        acknowledged[key] = revision;
                    }
                }

                applied++;
            }
            catch (OutcomeUnknownException ex)
            {
                unknown.Add(ex.Message);
            }
        }

        Assert.False(cluster.IsRunning(leader));
        Assert.Empty(unknown);

        // Every acknowledged key is there, at the version it was acknowledged at: a write applied
        // twice would have moved it on.
        var listed = new Dictionary<string, CacheItem>();
        await foreach (var item in client.ListAsync("eo/", pageSize: 50))
        {
            listed.Add(item.Key, item);
        }

        Assert.Equal(acknowledged.Keys.Order(StringComparer.Ordinal), listed.Keys.Order(StringComparer.Ordinal));
        foreach (var (key, version) in acknowledged)
        {
            Assert.Equal(version, listed[key].Version);
            Assert.Equal(key, Encoding.UTF8.GetString(listed[key].Value.Span));
        }

        // The counter: one revision per applied command. Exactly `Writes` of them since the start
        // (the single-key probe below is not one: a list does not advance the revision).
        var end = (await client.ListPageAsync("eo/", limit: 1)).Revision;
        Assert.Equal(Writes, applied);
        Assert.Equal(start + Writes, end);
        if (direct)
        {
            // Every write before the stop reached a follower first (421): the client's own retries did the work.
            Assert.True(Interlocked.Read(ref retries) >= 40, $"retries: {retries}");
        }
    }
}

/// <summary>The same, with the client talking to a follower node directly (no router).</summary>
[Collection(ClientClusterCollection.Name)]
public sealed class ExactlyOnceDirectTests(ClusterFixture fixture) : IClassFixture<ClusterFixture>
{
    [Fact]
    public Task Every_write_acknowledged_by_a_client_following_421s_itself_across_a_leader_stop_is_applied_exactly_once()
        => ExactlyOnceTests.WriteAcrossLeaderStopAsync(fixture, direct: true);
}
