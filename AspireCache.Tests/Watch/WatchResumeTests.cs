using System.Net.Http.Json;
using AspireCache.Node.Api;
using AspireCache.Tests.InProcess;

namespace AspireCache.Tests.Watch;

/// <summary>A stream's node is stopped mid-stream, during writes: the consumer resumes through the router with Last-Event-ID.</summary>
[Collection(InProcessCollection.Name)]
public sealed class WatchResumeTests
{
    [Fact]
    public async Task Resuming_with_Last_Event_ID_through_the_router_after_the_serving_node_stops_delivers_every_change_exactly_once()
    {
        await using var cluster = await InProcessCluster.StartAsync();
        await using var router = await InProcessRouter.StartAsync(cluster);
        using var client = router.Client();
        var start = (await client.GetFromJsonAsync<ListResponse>("/cache?prefix=resume/"))!.Revision;

        var received = new List<(long Revision, string Key)>();
        var errors = new List<SseEvent>();
        var reconnects = 0;
        var stream = await SseStream.OpenAsync(client, $"/cache/watch?prefix=resume/&afterRevision={start}");
        var servingNode = Array.IndexOf(InProcessCluster.Ids, stream.StreamId.Split('.')[0]);
        Assert.True(servingNode >= 0, stream.StreamId);

        // The writer: single puts and 3-key batches through the router; what was acknowledged, at which revision.
        var acknowledged = new List<(long Revision, string Key)>();
        var unknown = new HashSet<string>();
        using var stopWriting = new CancellationTokenSource();
        var writer = Task.Run(async () =>
        {
            for (var i = 0; i < 120; i++)
            {
                try
                {
                    if (i % 3 == 0)
                    {
                        var keys = new[] { $"resume/b{i}/1", $"resume/b{i}/2", $"resume/b{i}/3" };
                        using var response = await client.PostAsJsonAsync("/cache/batch", new BatchRequest { Set = keys.ToDictionary(k => k, _ => "eA==") });
                        if (response.IsSuccessStatusCode)
                        {
                            var version = (await response.Content.ReadFromJsonAsync<BatchResponse>())!.Version;
                            lock (acknowledged)
                            {
                                acknowledged.AddRange(keys.Select(k => (version, k)));
                            }
                        }
                        else
                        {
                            lock (acknowledged)
                            {
                                unknown.UnionWith(keys);
                            }
                        }
                    }
                    else
                    {
                        var key = $"resume/p{i}";
                        using var response = await client.PutAsync($"/cache/{key}", new StringContent("x"));
                        lock (acknowledged)
                        {
                            if (response.IsSuccessStatusCode)
                            {
                                acknowledged.Add((long.Parse(response.Headers.ETag!.Tag.Trim('"'), System.Globalization.CultureInfo.InvariantCulture), key));
                            }
                            else
                            {
                                unknown.Add(key);
                            }
                        }
                    }
                }
                catch (HttpRequestException)
                {
                }

                await Task.Delay(10);
            }
        });

        var stopped = false;
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        while (true)
        {
            SseEvent? e;
            try
            {
                e = await stream.NextAsync(timeout.Token);
            }
            catch (Exception ex) when (ex is IOException or HttpRequestException)
            {
                e = null; // the connection broke: as good as the end of the stream
            }

            if (e is null)
            {
                // The stream ended (its node stopped): reconnect as a browser would.
                var lastId = stream.LastEventId;
                await stream.DisposeAsync();
                reconnects++;
                stream = await SseStream.OpenAsync(client, "/cache/watch?prefix=resume/", lastEventId: lastId, token: timeout.Token);
                continue;
            }

            if (e.Type == "error")
            {
                errors.Add(e);
                continue;
            }

            if (e.Type == "put")
            {
                received.Add((e.Revision, e.Key));
            }

            if (!stopped && received.Count >= 40)
            {
                stopped = true;
                await cluster.StopNodeAsync(servingNode); // mid-stream, while the writer goes on
            }

            if (writer.IsCompleted)
            {
                long last;
                lock (acknowledged)
                {
                    last = acknowledged.Max(a => a.Revision);
                }

                if (received.Count > 0 && received[^1].Revision >= last)
                {
                    break;
                }
            }
        }

        await stream.DisposeAsync();
        await writer;
        Assert.True(stopped);
        Assert.True(reconnects >= 1, "the stream should have ended when its node stopped");
        Assert.Equal(received.Count, received.Distinct().Count()); // no duplicate
        Assert.True(received.Zip(received.Skip(1)).All(p => p.First.Revision <= p.Second.Revision), "revisions must not go back");
        var receivedSet = received.ToHashSet();
        Assert.All(acknowledged, a => Assert.Contains(a, receivedSet)); // no gap
        Assert.All(received, r => Assert.True(acknowledged.Contains(r) || unknown.Contains(r.Key), $"{r} was never written"));
    }
}

/// <summary>A node whose state was restored or replaced wholesale says so: its history starts there, and older resume points get 410.</summary>
[Collection(InProcessCollection.Name)]
public sealed class WatchHistoryRestartTests
{
    [Fact]
    public async Task After_a_restart_that_catches_up_from_a_snapshot_the_history_starts_at_the_restored_revision_never_with_a_silent_gap()
    {
        await using var cluster = await InProcessCluster.StartAsync(new Dictionary<string, string?> { ["Cluster:SnapshotInterval"] = "20" });
        var leader = await cluster.WaitForLeaderAsync(TimeSpan.FromSeconds(10));
        var follower = (leader + 1) % 3;
        using var client = cluster.Client(leader);
        for (var i = 0; i < 30; i++)
        {
            (await client.PutAsync($"/cache/restart/a{i}", new StringContent("x"))).EnsureSuccessStatusCode();
        }

        await cluster.StopNodeAsync(follower);
        for (var i = 0; i < 60; i++)
        {
            (await client.PutAsync($"/cache/restart/b{i}", new StringContent("x"))).EnsureSuccessStatusCode();
        }

        await cluster.StartNodeAsync(follower);
        using var restarted = cluster.Client(follower);
        var hub = cluster.Service<AspireCache.Node.Watch.WatchHub>(follower);

        // A linearizable start works at once (the node catches up first) ...
        await using (var stream = await SseStream.OpenAsync(restarted, "/cache/watch?prefix=restart/"))
        {
            var start = long.Parse((await stream.NextAsync(CancellationToken.None))!.Id!, System.Globalization.CultureInfo.InvariantCulture);
            Assert.True(start >= 90);
        }

        // ... but changes from before its restored or installed state are not offered as if complete.
        Assert.True(hub.OldestAcceptedRevision > 0, "the history must start where the restored state did");
        using var gone = await restarted.GetAsync("/cache/watch?prefix=restart/&afterRevision=0");
        Assert.Equal(System.Net.HttpStatusCode.Gone, gone.StatusCode);

        // Through the router, the nodes that still hold the history serve that resume point: a 410
        // from the restarted node is tried elsewhere (whichever node the router picks first).
        await using var router = await InProcessRouter.StartAsync(cluster);
        using var routed = router.Client();
        // Streams stay open, so the router's fewest-in-flight choice moves over every node in turn.
        var open = new List<SseStream>();
        try
        {
            for (var attempt = 0; attempt < 6; attempt++)
            {
                var resumed = await SseStream.OpenAsync(routed, "/cache/watch?prefix=restart/&afterRevision=0");
                open.Add(resumed);
                await resumed.ReadUntilAsync(e => e.Type == "put" && e.Key == "restart/a0", TimeSpan.FromSeconds(10));
                Assert.NotEqual(InProcessCluster.Ids[follower], resumed.StreamId.Split('.')[0]);
            }
        }
        finally
        {
            foreach (var stream in open)
            {
                await stream.DisposeAsync();
            }
        }
    }
}

/// <summary>Progress vouches only for what the current leader confirmed.</summary>
[Collection(InProcessCollection.Name)]
public sealed class WatchProgressPartitionTests
{
    [Fact]
    public async Task A_node_cut_off_from_the_leader_sends_no_progress_and_refuses_on_demand_progress_until_it_is_healed()
    {
        await using var cluster = await InProcessCluster.StartAsync(PartitionTests.FaultSettings);
        var leader = await cluster.WaitForLeaderAsync(TimeSpan.FromSeconds(10));
        var isolated = (leader + 1) % 3;
        using var client = cluster.Client(isolated);
        await using var stream = await SseStream.OpenAsync(client, "/cache/watch?prefix=cut/&progressIntervalMs=200");
        var received = new List<(DateTime At, SseEvent Event)>();
        var reader = Task.Run(async () =>
        {
            while (await stream.NextAsync(CancellationToken.None) is { } e)
            {
                lock (received)
                {
                    received.Add((DateTime.UtcNow, e));
                }
            }
        });

        int ProgressSince(DateTime from)
        {
            lock (received)
            {
                return received.Count(r => r.At >= from && r.Event.Type == "progress");
            }
        }

        var opened = DateTime.UtcNow;
        await Poll.UntilAsync(() => ProgressSince(opened) >= 3, TimeSpan.FromSeconds(20)); // periodic progress flows while connected

        await PartitionTests.Partition(cluster, [[isolated], [.. Enumerable.Range(0, 3).Where(i => i != isolated)]]);
        await Task.Delay(300); // a progress round that started before the cut may still finish
        var cut = DateTime.UtcNow;

        // Cut off: on-demand progress is refused, and for many intervals the stream sends none.
        using (var refused = await client.PostAsync($"/cache/watch/{stream.StreamId}/progress", null))
        {
            Assert.Equal(System.Net.HttpStatusCode.ServiceUnavailable, refused.StatusCode);
            Assert.NotNull(refused.Headers.RetryAfter);
        }

        await Task.Delay(TimeSpan.FromSeconds(2));
        Assert.Equal(0, ProgressSince(cut));
        Assert.False(reader.IsCompleted, "the stream stays open while the node is cut off");

        // Healed: progress resumes.
        await PartitionTests.Heal(cluster);
        var healed = DateTime.UtcNow;
        await Poll.UntilAsync(() => ProgressSince(healed) >= 1, TimeSpan.FromSeconds(20));
    }
}
