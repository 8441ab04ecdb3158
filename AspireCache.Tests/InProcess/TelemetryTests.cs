using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using AspireCache.Node.Diagnostics;

namespace AspireCache.Tests.InProcess;

/// <summary>Traces and metrics that show where time goes in a write and in a linearizable read.</summary>
[Collection(InProcessCollection.Name)]
public sealed class TelemetryTests : IAsyncLifetime, IDisposable
{
    private static readonly ActivitySource TestSource = new("AspireCache.Tests");
    private readonly ConcurrentBag<Activity> _spans = [];
    private readonly ActivityListener _listener;
    private InProcessCluster _cluster = null!;

    public TelemetryTests()
    {
        _listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name is NodeTelemetry.Name or "AspireCache.Tests" or "Microsoft.AspNetCore" or "System.Net.Http",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = _spans.Add,
        };
        ActivitySource.AddActivityListener(_listener);
    }

    public async Task InitializeAsync() => _cluster = await InProcessCluster.StartAsync();

    public async Task DisposeAsync() => await _cluster.DisposeAsync();

    public void Dispose() => _listener.Dispose();

    [Fact]
    public async Task A_write_is_traced_from_request_through_replication_to_apply()
    {
        var leader = await _cluster.WaitForLeaderAsync(TimeSpan.FromSeconds(10));
        using var client = _cluster.Client(leader);
        ActivityTraceId traceId;
        using (var root = TestSource.StartActivity("test.write"))
        {
            traceId = root!.TraceId;
            (await client.PutAsync("/cache/telemetry/write", new StringContent("x"))).EnsureSuccessStatusCode();
        }

        var write = await SpanAsync("cache.write", traceId);
        var replicate = await SpanAsync("raft.replicate", traceId);
        var apply = await SpanAsync("raft.apply", traceId);
        Assert.Equal(write.SpanId, replicate.ParentSpanId);
        Assert.Equal(replicate.SpanId, apply.ParentSpanId);
        Assert.Equal(1, replicate.GetTagItem("raft.batch_size"));
        Assert.True((long)replicate.GetTagItem("raft.term")! > 0);
        Assert.True((long)apply.GetTagItem("raft.entry_index")! > 0);
    }

    [Fact]
    public async Task A_follower_read_is_traced_through_the_leaders_quorum_round_in_one_trace()
    {
        var leader = await _cluster.WaitForLeaderAsync(TimeSpan.FromSeconds(10));
        using (var writer = _cluster.Client(leader))
        {
            (await writer.PutAsync("/cache/telemetry/read", new StringContent("x"))).EnsureSuccessStatusCode();
        }

        using var follower = _cluster.Client((leader + 1) % 3);
        ActivityTraceId traceId;
        using (var root = TestSource.StartActivity("test.read"))
        {
            traceId = root!.TraceId;
            Assert.Equal("x", await follower.GetStringAsync("/cache/telemetry/read"));
        }

        var read = await SpanAsync("cache.read", traceId);
        var readIndex = await SpanAsync("raft.read_index", traceId);
        var askLeader = await SpanAsync("raft.read_index.ask_leader", traceId);
        var quorumRound = await SpanAsync("raft.read_index.quorum_round", traceId);
        Assert.Equal(read.SpanId, readIndex.ParentSpanId);
        Assert.Equal(readIndex.SpanId, askLeader.ParentSpanId);
        Assert.Equal("follower", readIndex.GetTagItem("raft.role"));
        Assert.Equal(InProcessCluster.Ids[leader], readIndex.GetTagItem("raft.confirmed_by"));
        Assert.True((long)readIndex.GetTagItem("raft.read_index")! > 0);
        Assert.NotNull(readIndex.GetTagItem("raft.apply_wait_ms"));
        Assert.Equal("linearizable", read.GetTagItem("cache.consistency"));
        Assert.NotEqual(default, quorumRound.ParentSpanId); // the leader's round joined the follower's trace over HTTP
    }

    [Fact]
    public async Task Commit_latency_read_index_latency_and_stale_reads_are_measured()
    {
        var measured = new ConcurrentDictionary<string, int>();
        using var meters = new MeterListener
        {
            InstrumentPublished = (instrument, listener) =>
            {
                if (instrument.Meter.Name == NodeTelemetry.Name)
                {
                    listener.EnableMeasurementEvents(instrument);
                }
            },
        };
        meters.SetMeasurementEventCallback<double>((instrument, _, _, _) => measured.AddOrUpdate(instrument.Name, 1, (_, n) => n + 1));
        meters.SetMeasurementEventCallback<long>((instrument, _, _, _) => measured.AddOrUpdate(instrument.Name, 1, (_, n) => n + 1));
        meters.SetMeasurementEventCallback<int>((instrument, _, _, _) => measured.AddOrUpdate(instrument.Name, 1, (_, n) => n + 1));
        meters.Start();

        var leader = await _cluster.WaitForLeaderAsync(TimeSpan.FromSeconds(10));
        using var client = _cluster.Client(leader);
        (await client.PutAsync("/cache/telemetry/metrics", new StringContent("x"))).EnsureSuccessStatusCode();
        await client.GetStringAsync("/cache/telemetry/metrics");
        await client.GetStringAsync("/cache/telemetry/metrics?consistent=false");
        meters.RecordObservableInstruments();

        foreach (var name in new[]
                 {
                     "aspirecache.write.commit_latency", "aspirecache.write.proposals", "aspirecache.write.commands_per_entry",
                     "aspirecache.write.proposal_bytes", "aspirecache.read.read_index_latency", "aspirecache.read.stale",
                     "aspirecache.raft.commit_index", "aspirecache.raft.applied_index", "aspirecache.raft.term",
                 })
        {
            Assert.True(measured.ContainsKey(name), $"{name} was not recorded");
        }
    }

    [Fact]
    public async Task A_watch_start_and_an_on_demand_progress_are_traced_and_watch_metrics_are_measured()
    {
        var measured = new ConcurrentDictionary<string, int>();
        using var meters = new MeterListener
        {
            InstrumentPublished = (instrument, listener) =>
            {
                if (instrument.Meter.Name == AspireCache.Node.Watch.WatchTelemetry.Name)
                {
                    listener.EnableMeasurementEvents(instrument);
                }
            },
        };
        meters.SetMeasurementEventCallback<double>((instrument, _, _, _) => measured.AddOrUpdate(instrument.Name, 1, (_, n) => n + 1));
        meters.SetMeasurementEventCallback<long>((instrument, _, _, _) => measured.AddOrUpdate(instrument.Name, 1, (_, n) => n + 1));
        meters.Start();

        var leader = await _cluster.WaitForLeaderAsync(TimeSpan.FromSeconds(10));
        using var writer = _cluster.Client(leader);
        using var follower = _cluster.Client((leader + 1) % 3);
        ActivityTraceId traceId;
        string streamId;
        using (var root = TestSource.StartActivity("test.watch"))
        {
            traceId = root!.TraceId;
            await using var stream = await Watch.SseStream.OpenAsync(follower, "/cache/watch?prefix=telemetry/watch/");
            await stream.NextAsync(CancellationToken.None);
            streamId = stream.StreamId;
            (await writer.PutAsync("/cache/telemetry/watch/x", new StringContent("x"))).EnsureSuccessStatusCode();
            await stream.ReadUntilAsync(e => e.Type == "put", TimeSpan.FromSeconds(10));
            (await follower.PostAsync($"/cache/watch/{streamId}/progress", null)).EnsureSuccessStatusCode();
            await stream.ReadUntilAsync(e => e.Type == "progress", TimeSpan.FromSeconds(10));
        }

        var start = await SpanAsync("cache.watch.start", traceId);
        var progress = await SpanAsync("cache.watch.progress", traceId);
        Assert.Equal("Registered", start.GetTagItem("watch.outcome"));
        Assert.Equal(streamId, start.GetTagItem("watch.stream_id"));
        Assert.True((long)start.GetTagItem("watch.start_revision")! > 0);
        Assert.Equal(streamId, progress.GetTagItem("watch.stream_id"));
        meters.RecordObservableInstruments();
        foreach (var name in new[]
                 {
                     "aspirecache.watch.active", "aspirecache.watch.events_sent", "aspirecache.watch.progress_sent",
                     "aspirecache.watch.progress_requests", "aspirecache.watch.lag", "aspirecache.watch.history.events",
                 })
        {
            Assert.True(measured.ContainsKey(name), $"{name} was not recorded");
        }
    }

    private async Task<Activity> SpanAsync(string name, ActivityTraceId traceId)
    {
        // Spans stop slightly after the response (apply and rounds finish on other threads).
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        while (true)
        {
            var span = _spans.FirstOrDefault(s => s.OperationName == name && s.TraceId == traceId);
            if (span is not null)
            {
                return span;
            }

            await Task.Delay(20, cts.Token);
        }
    }
}
