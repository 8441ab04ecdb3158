using System.Diagnostics;
using System.Net.Http.Json;
using AspireCache.Router.Diagnostics;
using Microsoft.Extensions.Options;

namespace AspireCache.Router.Topology;

/// <summary>The subset of a node's <c>GET /cluster/status</c> the router needs.</summary>
internal sealed record NodeStatus(string NodeId, string Role, long Term, string? LeaderId, long AppliedIndex, string? Zone = null);

/// <summary>
/// Keeps the router's <see cref="ClusterTopology"/> current:
/// <list type="bullet">
/// <item><b>push</b>: one long-poll per node on <c>/cluster/watch</c>, which answers the moment that
/// node's term or leader changes — the router follows an election within milliseconds;</item>
/// <item><b>poll</b> (fallback, and latency): every node's <c>/cluster/status</c> each
/// <see cref="RouterOptions.PollInterval"/>, or at once when a request asks for a refresh.</item>
/// </list>
/// Each update publishes a new immutable snapshot; load-balancing policies only ever read one.
/// </summary>
internal sealed class TopologyMonitor(
    IHttpClientFactory httpClientFactory,
    IOptions<RouterOptions> options,
    RouterTelemetry telemetry,
    ILogger<TopologyMonitor> logger) : BackgroundService, ITopologySource
{
    public const string HttpClientName = "node-status";

    private const double LatencySmoothing = 0.3;
    private static readonly TimeSpan WatchWait = TimeSpan.FromSeconds(20);

    private readonly RouterOptions _options = options.Value;
    private readonly SemaphoreSlim _refresh = new(0, 1);
    private readonly Lock _publish = new();
    private readonly Dictionary<string, NodeView> _views = new(StringComparer.OrdinalIgnoreCase);
    private readonly HashSet<string> _credentialRefused = new(StringComparer.OrdinalIgnoreCase);
    private ClusterTopology _current = ClusterTopology.Empty;
    private readonly LeaderTenure _tenure = new();
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public ClusterTopology Current => Volatile.Read(ref _current);

    /// <summary>
    /// A token cancelled once the topology names a write leader other than <paramref name="node"/>
    /// (already cancelled if it does): the end of that node's tenure, for writes in flight to it.
    /// </summary>
    public CancellationToken LeaderTenure(string node) => _tenure.Of(node, this);

    /// <summary>Ask for a poll now (e.g. a node answered "not leader" or could not be reached).</summary>
    public void RequestRefresh()
    {
        if (_refresh.CurrentCount != 0)
        {
            return; // a refresh is already pending (writes waiting for a leader ask every 50 ms)
        }

        try
        {
            _refresh.Release();
        }
        catch (SemaphoreFullException)
        {
            // A refresh is already pending.
        }
    }

    /// <summary>
    /// Completes with a topology whose leader is known and is not <paramref name="notThisLeader"/>,
    /// or with whatever is known when <paramref name="timeout"/> passes. <paramref name="forWrites"/>:
    /// the leader writes go to (<see cref="ClusterTopology.WriteLeaderId"/>).
    /// </summary>
    public async Task<ClusterTopology> WaitForLeaderAsync(TimeSpan timeout, CancellationToken token, string? notThisLeader = null, bool forWrites = false)
    {
        var deadline = Stopwatch.GetTimestamp() + (long)(timeout.TotalSeconds * Stopwatch.Frequency);
        while (true)
        {
            var changed = Volatile.Read(ref _changed).Task;
            var topology = Current;
            var leader = forWrites ? topology.WriteLeaderId : topology.LeaderId;
            if (leader is not null && !string.Equals(leader, notThisLeader, StringComparison.OrdinalIgnoreCase))
            {
                return topology;
            }

            var remaining = TimeSpan.FromSeconds((double)(deadline - Stopwatch.GetTimestamp()) / Stopwatch.Frequency);
            if (remaining <= TimeSpan.Zero)
            {
                return topology;
            }

            RequestRefresh();
            try
            {
                // Woken by the next published topology, and at least every 50 ms to re-poll.
                await changed.WaitAsync(TimeSpan.FromMilliseconds(Math.Min(50, remaining.TotalMilliseconds)), token);
            }
            catch (TimeoutException)
            {
            }
        }
    }

    protected override Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var client = httpClientFactory.CreateClient(HttpClientName);
        var loops = new List<Task> { PollLoopAsync(client, stoppingToken) };
        loops.AddRange(_options.Nodes.Select(node => WatchLoopAsync(client, node, stoppingToken)));
        return Task.WhenAll(loops);
    }

    private async Task PollLoopAsync(HttpClient client, CancellationToken token)
    {
        while (!token.IsCancellationRequested)
        {
            await Task.WhenAll(_options.Nodes.Select(node => ProbeAsync(client, node, token)));
            try
            {
                await _refresh.WaitAsync(_options.PollInterval, token);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private async Task ProbeAsync(HttpClient client, string node, CancellationToken token)
    {
        var started = Stopwatch.GetTimestamp();
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(token);
            timeout.CancelAfter(_options.ProbeTimeout);
            var status = await client.GetFromJsonAsync<NodeStatus>($"{_options.NodeScheme}://{node}/cluster/status", timeout.Token);
            Update(node, status, Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        }
        catch (Exception ex) when (IsTransient(ex, token))
        {
            MarkUnreachable(node, ex);
        }
    }

    private async Task WatchLoopAsync(HttpClient client, string node, CancellationToken token)
    {
        while (!token.IsCancellationRequested)
        {
            var known = Current.Nodes.TryGetValue(node, out var view) && view.Healthy ? view : null;
            // The role too: a new leader becomes ready (role "leader") after the leader change, and the
            // topology names a leader only when it says so itself.
            var query = known is null ? "waitMs=0" : $"term={known.Term}&leader={Uri.EscapeDataString(known.LeaderId ?? "")}&role={Uri.EscapeDataString(known.Role)}&waitMs={(int)WatchWait.TotalMilliseconds}";
            try
            {
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(token);
                timeout.CancelAfter(WatchWait + _options.ProbeTimeout);
                var status = await client.GetFromJsonAsync<NodeStatus>($"{_options.NodeScheme}://{node}/cluster/watch?{query}", timeout.Token);
                Update(node, status, latencyMs: null);
                if (known is null)
                {
                    // The node was unknown or down: the probe loop will measure it; don't spin.
                    await Task.Delay(_options.PollInterval, token);
                }
            }
            catch (Exception ex) when (IsTransient(ex, token))
            {
                MarkUnreachable(node, ex);
                await Task.Delay(_options.PollInterval, token).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }
        }
    }

    private void Update(string node, NodeStatus? status, double? latencyMs)
    {
        lock (_publish)
        {
            _views.TryGetValue(node, out var last);
            if (status is null)
            {
                _views[node] = Unreachable(node, last);
            }
            else
            {
                var latency = latencyMs is not { } rtt
                    ? last is { Healthy: true } ? last.LatencyMs : 1000
                    : last is { Healthy: true } ? (LatencySmoothing * rtt) + ((1 - LatencySmoothing) * last.LatencyMs) : rtt;
                _credentialRefused.Remove(node);
                _views[node] = new NodeView(node, true, status.Role, status.Term, status.LeaderId, status.AppliedIndex, latency, status.Zone);
            }

            PublishLocked();
        }
    }

    private void MarkUnreachable(string node, Exception ex)
    {
        lock (_publish)
        {
            _views.TryGetValue(node, out var last);
            if (ex is HttpRequestException { StatusCode: System.Net.HttpStatusCode.Unauthorized or System.Net.HttpStatusCode.Forbidden } refused)
            {
                // A configuration error, not an outage: said once per node until it is fixed.
                if (_credentialRefused.Add(node))
                {
                    RouterLog.CredentialRefused(logger, node, (int)refused.StatusCode!.Value);
                }
            }
            else if (last is { Healthy: true })
            {
                RouterLog.NodeUnreachable(logger, node, ex.Message);
            }

            _views[node] = Unreachable(node, last);
            PublishLocked();
        }
    }

    private void PublishLocked()
    {
        var previous = Current;
        var next = ClusterTopology.From(_views, _options.WritesToElectedLeader);
        Volatile.Write(ref _current, next);
        _tenure.Published(next.WriteLeaderId);
        Interlocked.Exchange(ref _changed, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
        if (next.LeaderId != previous.LeaderId)
        {
            telemetry.LeaderChanged(next.LeaderId);
            RouterLog.LeaderChanged(logger, previous.LeaderId ?? "(none)", next.LeaderId ?? "(none)", next.Term);
        }
    }

    private static bool IsTransient(Exception ex, CancellationToken token) =>
        !token.IsCancellationRequested && ex is HttpRequestException or OperationCanceledException or System.Text.Json.JsonException;

    /// <summary>A node that did not answer: unhealthy, keeping the last term and applied index it reported.</summary>
    private static NodeView Unreachable(string node, NodeView? last) =>
        new(node, false, "unknown", last?.Term ?? 0, null, last?.AppliedIndex ?? 0, double.MaxValue);
}
