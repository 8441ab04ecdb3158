using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Net;
using Microsoft.Extensions.DependencyInjection;

namespace AspireCache.Tests.InProcess;

/// <summary>
/// A rolling upgrade's first step (<c>Cluster:LogFormatVersion=1</c>): the leader writes format-1
/// entries (no checksum, what older versions read), every node applies them, and a restarted node
/// replays them from its WAL. <c>aspirecache.raft.applied_entries</c> tells the formats apart.
/// </summary>
[Collection(InProcessCollection.Name)]
public sealed class LogFormatVersionTests
{
    [Fact]
    public async Task With_log_format_1_every_node_applies_format_1_entries_and_replays_them_after_a_restart()
    {
        await using var cluster = await InProcessCluster.StartAsync(new Dictionary<string, string?> { ["Cluster:LogFormatVersion"] = "1" });
        using var applied = new AppliedEntries();
        for (var node = 0; node < 3; node++)
        {
            applied.Own(cluster.Service<IMeterFactory>(node));
        }

        var leader = await cluster.WaitForLeaderAsync(TimeSpan.FromSeconds(10));
        var follower = (leader + 1) % 3;
        using (var client = cluster.Client(leader))
        {
            for (var i = 0; i < 10; i++)
            {
                Assert.Equal(HttpStatusCode.Created, (await client.PutAsync($"/cache/format1/{i}", new StringContent($"v{i}"))).StatusCode);
            }
        }

        for (var node = 0; node < 3; node++)
        {
            using var reader = cluster.Client(node);
            Assert.Equal("v9", await reader.GetStringAsync("/cache/format1/9")); // linearizable: applied here too
        }

        Assert.True(applied.Count(1) >= 30, $"format-1 entries applied: {applied.Count(1)} (10 writes on 3 nodes)");
        Assert.Equal(0, applied.Count(2));

        // The restarted follower rebuilds its state from the format-1 entries in its WAL.
        await cluster.StopNodeAsync(follower);
        await cluster.StartNodeAsync(follower);
        applied.Own(cluster.Service<IMeterFactory>(follower));
        using var restarted = cluster.Client(follower);
        var deadline = DateTime.UtcNow.AddSeconds(30);
        HttpResponseMessage response;
        while ((response = await restarted.GetAsync("/cache/format1/0")).StatusCode != HttpStatusCode.OK)
        {
            Assert.True(DateTime.UtcNow < deadline, $"the restarted node never served the key: {(int)response.StatusCode}");
            await Task.Delay(50);
        }

        for (var i = 0; i < 10; i++)
        {
            Assert.Equal($"v{i}", await restarted.GetStringAsync($"/cache/format1/{i}"));
        }

        Assert.Equal(0, applied.Count(2));
    }

    /// <summary>
    /// Sums <c>aspirecache.raft.applied_entries</c> by format over this cluster's nodes (their meter
    /// factories: other clusters in the test process are not counted).
    /// </summary>
    private sealed class AppliedEntries : IDisposable
    {
        private readonly MeterListener _listener = new();
        private readonly ConcurrentDictionary<int, long> _byFormat = new();
        private readonly ConcurrentDictionary<object, bool> _scopes = new(ReferenceEqualityComparer.Instance);

        public void Own(IMeterFactory factory) => _scopes[factory] = true;

        public AppliedEntries()
        {
            _listener.InstrumentPublished = (instrument, listener) =>
            {
                if (instrument.Name == "aspirecache.raft.applied_entries")
                {
                    listener.EnableMeasurementEvents(instrument);
                }
            };
            _listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
            {
                if (instrument.Meter.Scope is not { } scope || !_scopes.ContainsKey(scope))
                {
                    return;
                }

                foreach (var tag in tags)
                {
                    if (tag.Key == "format" && tag.Value is int format)
                    {
                        _byFormat.AddOrUpdate(format, value, (_, sum) => sum + value);
                    }
                }
            });
            _listener.Start();
        }

        public long Count(int format) => _byFormat.GetValueOrDefault(format);

        public void Dispose() => _listener.Dispose();
    }
}
