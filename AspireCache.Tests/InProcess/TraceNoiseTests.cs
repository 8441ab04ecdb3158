using System.Collections.Concurrent;
using System.Diagnostics;
using AspireCache.Node.Diagnostics;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using OpenTelemetry;
using OpenTelemetry.Trace;

namespace AspireCache.Tests.InProcess;

/// <summary>
/// Issue #16's tracing goal, with the services' own OpenTelemetry configuration
/// (<see cref="TraceFilters.AddAspireCacheTracing"/>): an idle cluster exports no spans although Raft
/// heartbeats flow, and a client's write and linearizable follower read still export theirs.
/// </summary>
public sealed class TraceNoiseTests : IAsyncLifetime
{
    private readonly ConcurrentQueue<Activity> _exported = new();
    private TracerProvider _tracing = null!;
    private InProcessCluster _cluster = null!;
    private int _raftRequests;
    private DateTime _readyAt;

    public async Task InitializeAsync()
    {
        _tracing = Sdk.CreateTracerProviderBuilder()
            .AddAspireCacheTracing(NodeTelemetry.Name)
            .AddProcessor(new Collector(_exported))
            .Build()!;
        _cluster = await InProcessCluster.StartAsync(configureNode: builder =>
            builder.Services.AddSingleton<IStartupFilter>(new CountRaftRequests(() => Interlocked.Increment(ref _raftRequests))));
        _readyAt = DateTime.UtcNow;
    }

    public async Task DisposeAsync()
    {
        await _cluster.DisposeAsync();
        _tracing.Dispose();
    }

    [Fact]
    public async Task An_idle_cluster_exports_no_spans_while_a_clients_write_and_read_export_theirs()
    {
        var leader = await _cluster.WaitForLeaderAsync(TimeSpan.FromSeconds(10));
        using (var status = _cluster.Client(leader))
        {
            await status.GetAsync("/cluster/status"); // a poll, as the router makes every few seconds
        }

        // Idle: heartbeats (and the poll above) reach the nodes, and no HTTP span of this cluster is exported.
        var ports = _cluster.Urls.Concat(_cluster.PeerUrls).Select(u => u.Port).ToHashSet();
        var raftBefore = Volatile.Read(ref _raftRequests);
        var idleSince = DateTime.UtcNow;
        await Task.Delay(TimeSpan.FromSeconds(1.5)); // an observation window, not synchronisation
        Assert.True(Volatile.Read(ref _raftRequests) - raftBefore >= 3, "no Raft heartbeats in 1.5 s: the window proves nothing");
        // (Spans that began up to 100 ms before the window count too, but not the fixture's own readiness write,
        // a client's write that was over before the cluster was handed to the test.)
        var from = idleSince.AddMilliseconds(-100) > _readyAt ? idleSince.AddMilliseconds(-100) : _readyAt;
        var idleSpans = _exported.Where(a => a.StartTimeUtc >= from && ports.Contains(PortOf(a))).ToList();
        Assert.True(idleSpans.Count == 0, $"spans of the idle cluster (idle since {idleSince:HH:mm:ss.fff}): {string.Join("; ", idleSpans.Select(Describe))}");

        // A client's write and a follower's linearizable read are traced, with the work they cause.
        using (var writer = _cluster.Client(leader))
        {
            (await writer.PutAsync("/cache/trace-noise/k", new StringContent("v"))).EnsureSuccessStatusCode();
        }

        using (var reader = _cluster.Client((leader + 1) % 3))
        {
            Assert.Equal("v", await reader.GetStringAsync("/cache/trace-noise/k"));
        }

        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        while (!(_exported.Any(a => Path(a) == "/cache/trace-noise/k" && a.Kind == ActivityKind.Server && (string?)a.GetTagItem("http.request.method") == "PUT")
                 && _exported.Any(a => a.OperationName == "raft.replicate")
                 && _exported.Any(a => a.Kind == ActivityKind.Client && ports.Contains(PortOf(a)) && ((string?)a.GetTagItem("url.full"))?.Contains("/cluster/read-index", StringComparison.Ordinal) == true)))
        {
            await Task.Delay(50, deadline.Token);
        }

        Assert.DoesNotContain(_exported, a => ports.Contains(PortOf(a)) && (Path(a)?.StartsWith("/cluster-consensus", StringComparison.Ordinal) == true || ((string?)a.GetTagItem("url.full"))?.Contains("/cluster-consensus", StringComparison.Ordinal) == true));
    }

    private static string? Path(Activity a) => a.GetTagItem("url.path") as string;

    private static string Describe(Activity a) =>
        $"{a.Kind} {a.DisplayName} {a.GetTagItem("url.full") ?? Path(a)} port {PortOf(a)} at {a.StartTimeUtc:HH:mm:ss.fff} ({a.Duration.TotalMilliseconds:F0} ms) status {a.GetTagItem("http.response.status_code")}";

    private static int PortOf(Activity a) => a.GetTagItem("server.port") switch
    {
        int port => port,
        long port => (int)port,
        string text when int.TryParse(text, out var port) => port,
        _ => -1,
    };

    private sealed class Collector(ConcurrentQueue<Activity> exported) : BaseProcessor<Activity>
    {
        public override void OnEnd(Activity data) => exported.Enqueue(data);
    }

    private sealed class CountRaftRequests(Action count) : IStartupFilter
    {
        public Action<IApplicationBuilder> Configure(Action<IApplicationBuilder> next) => app =>
        {
            app.Use((HttpContext context, RequestDelegate nextMiddleware) =>
            {
                if (context.Request.Headers.ContainsKey("X-Raft-Message-Type"))
                {
                    count();
                }

                return nextMiddleware(context);
            });
            next(app);
        };
    }
}
