using System.Diagnostics;
using System.Net.Http.Json;
using AspireCache.Router.Diagnostics;
using Microsoft.Extensions.Options;

namespace AspireCache.Router.Topology;

/// <summary>The subset of a node's <c>GET /cluster/status</c> the router needs.</summary>
internal sealed record NodeStatus(string NodeId, string Role, long Term, string? LeaderId, long AppliedIndex);

/// <summary>
/// Polls every node's <c>/cluster/status</c> and publishes an immutable <see cref="ClusterTopology"/>.
/// A proxied request that meets a "not leader" answer asks for an immediate refresh, so a leader
/// change is followed well within a poll interval.
/// </summary>
internal sealed class TopologyMonitor(
    IHttpClientFactory httpClientFactory,
    IOptions<RouterOptions> options,
    RouterTelemetry telemetry,
    ILogger<TopologyMonitor> logger) : BackgroundService
{
    public const string HttpClientName = "node-status";

    private const double LatencySmoothing = 0.3;

    private readonly RouterOptions _options = options.Value;
    private readonly SemaphoreSlim _refresh = new(0, 1);
    private ClusterTopology _current = ClusterTopology.Empty;

    public ClusterTopology Current => Volatile.Read(ref _current);

    /// <summary>Ask for a poll now (e.g. a node answered "not leader").</summary>
    public void RequestRefresh()
    {
        try
        {
            _refresh.Release();
        }
        catch (SemaphoreFullException)
        {
            // A refresh is already pending.
        }
    }

    /// <summary>Completes once a leader is known or the timeout passes.</summary>
    public async Task<ClusterTopology> WaitForLeaderAsync(TimeSpan timeout, CancellationToken token)
    {
        var deadline = Stopwatch.GetTimestamp() + (long)(timeout.TotalSeconds * Stopwatch.Frequency);
        var topology = Current;
        while (topology.LeaderId is null && Stopwatch.GetTimestamp() < deadline)
        {
            RequestRefresh();
            await Task.Delay(20, token);
            topology = Current;
        }

        return topology;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var client = httpClientFactory.CreateClient(HttpClientName);
        while (!stoppingToken.IsCancellationRequested)
        {
            await PollOnceAsync(client, stoppingToken);
            try
            {
                await _refresh.WaitAsync(_options.PollInterval, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
    }

    private async Task PollOnceAsync(HttpClient client, CancellationToken token)
    {
        var previous = Current;
        var probes = _options.Nodes.Select(node => ProbeAsync(client, node, previous, token)).ToArray();
        var views = await Task.WhenAll(probes);
        var next = ClusterTopology.From(views.ToDictionary(v => v.NodeId, StringComparer.OrdinalIgnoreCase));
        Volatile.Write(ref _current, next);

        if (next.LeaderId != previous.LeaderId)
        {
            telemetry.LeaderChanged(next.LeaderId);
            RouterLog.LeaderChanged(logger, previous.LeaderId ?? "(none)", next.LeaderId ?? "(none)", next.Term);
        }
    }

    private async Task<NodeView> ProbeAsync(HttpClient client, string node, ClusterTopology previous, CancellationToken token)
    {
        previous.Nodes.TryGetValue(node, out var last);
        var started = Stopwatch.GetTimestamp();
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(token);
            timeout.CancelAfter(_options.ProbeTimeout);
            var status = await client.GetFromJsonAsync<NodeStatus>($"http://{node}/cluster/status", timeout.Token);
            var rtt = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
            var latency = last is { Healthy: true } ? (LatencySmoothing * rtt) + ((1 - LatencySmoothing) * last.LatencyMs) : rtt;
            return status is null
                ? new NodeView(node, false, "unknown", 0, null, 0, double.MaxValue)
                : new NodeView(node, true, status.Role, status.Term, status.LeaderId, status.AppliedIndex, latency);
        }
        catch (Exception ex) when (ex is HttpRequestException or OperationCanceledException or System.Text.Json.JsonException && !token.IsCancellationRequested)
        {
            if (last is { Healthy: true })
            {
                RouterLog.NodeUnreachable(logger, node, ex.Message);
            }

            return new NodeView(node, false, "unknown", last?.Term ?? 0, null, last?.AppliedIndex ?? 0, double.MaxValue);
        }
    }
}
