using System.Diagnostics;
using System.Globalization;
using AspireCache.Router.Diagnostics;
using AspireCache.Router.Topology;
using Microsoft.Extensions.Options;
using Yarp.ReverseProxy.Forwarder;
using Yarp.ReverseProxy.Model;
using Yarp.ReverseProxy.Transforms;
using Yarp.ReverseProxy.Transforms.Builder;

namespace AspireCache.Router.Routing;

/// <summary>
/// The router's request path around YARP's load balancing and forwarding:
/// <list type="number">
/// <item><see cref="PrepareAsync"/>: a write gets an <c>Idempotency-Key</c> if it has none (before
/// the first attempt, so every retry is the same request to the state machine), its body is buffered
/// for retries, and while no leader is known the write waits for one (elections take a few hundred ms);</item>
/// <item><see cref="ForwardAsync"/>: forwards; when a node answers "not leader" (421), is unreachable
/// (502), or unavailable (503), the response is held back (<see cref="AddRetryTransform"/>) and the
/// request goes to the new leader (writes) or another healthy node (reads), until
/// <see cref="RouterOptions.RetryDeadline"/>; then an RFC 9457 503 with Retry-After.</item>
/// </list>
/// Retried writes cannot apply twice: the node's state machine answers a repeated idempotency key
/// with the recorded result.
/// </summary>
internal sealed class RetryingProxySteps(
    TopologyMonitor monitor,
    RouterTelemetry telemetry,
    IOptions<RouterOptions> options,
    IProblemDetailsService problems)
{
    public const string IdempotencyKeyHeader = CacheHeaders.IdempotencyKey;
    private const string LeaderHeader = CacheHeaders.Leader;
    private const int MaxAttempts = 16;
    private const long MaxBufferedBody = 16 * 1024 * 1024;

    private readonly RouterOptions _options = options.Value;

    /// <summary>
    /// Names the leader a write is sent to on its request (for <see cref="DeposedLeaderHandler"/>), and holds
    /// back retriable answers so the request can be sent again.
    /// </summary>
    public static void AddRetryTransform(TransformBuilderContext builder)
    {
        builder.AddRequestTransform(static context =>
        {
            // (a client's write batch too: abandoned like the router's own when another leader is named, and its writes go on alone)
            var feature = context.HttpContext.GetReverseProxyFeature();
            if ((context.HttpContext.Items[typeof(RetryState)] is RetryState { IsWrite: true } || feature.Route.Config.RouteId == ProxyRoutes.WriteBatchRoute)
                && feature.ProxiedDestination is { } destination)
            {
                context.ProxyRequest.Options.Set(DeposedLeaderHandler.Leader, ClusterTopology.NodeIdOf(destination.DestinationId));
            }

            return ValueTask.CompletedTask;
        });
        builder.AddResponseTransform(static async context =>
        {
            if (context.HttpContext.Items[typeof(RetryState)] is not RetryState state || context.ProxyResponse is not { } response)
            {
                return;
            }

            if (state.ShouldRetry((int)response.StatusCode))
            {
                state.LeaderHint = response.Headers.TryGetValues(LeaderHeader, out var leader) ? leader.FirstOrDefault() : null;
                state.RetryRequested = true;
                context.SuppressResponseBody = true;
                if (state.IsWrite && !state.MaybeApplied)
                {
                    // The body is not passed on (suppressed): read its problem type. "leadership-lost"
                    // and "timeout" mean the node proposed the write and may still commit it.
                    state.MaybeApplied = await SaysOutcomeUnknownAsync(response, context.CancellationToken);
                }
            }
            else if (state.IsWrite && state.Attempts > 1 && (int)response.StatusCode is StatusCodes.Status421MisdirectedRequest or StatusCodes.Status503ServiceUnavailable)
            {
                // The last attempt's "not leader" does not speak for the earlier ones, which may
                // still commit: the client must hear "outcome unknown", never "not applied".
                state.OutcomeUnknown = true;
                context.SuppressResponseBody = true;
            }
        });
    }

    /// <summary>Whether a node's problem answer says the write's outcome is unknown (it was proposed).</summary>
    private static async Task<bool> SaysOutcomeUnknownAsync(HttpResponseMessage response, CancellationToken token)
    {
        try
        {
            return ProblemTypes.SaysOutcomeUnknown(await response.Content.ReadAsStringAsync(token));
        }
        catch (Exception ex) when (ex is HttpRequestException or IOException or OperationCanceledException)
        {
            return true; // cannot tell: assume it may have been applied
        }
    }

    /// <summary>Gives a write without an <c>Idempotency-Key</c> one, before its first attempt: every retry is then the same request to the state machine.</summary>
    internal static void EnsureIdempotencyKey(HttpRequest request)
    {
        if (!request.Headers.ContainsKey(IdempotencyKeyHeader))
        {
            request.Headers[IdempotencyKeyHeader] = Guid.NewGuid().ToString("N");
        }
    }

    public async Task PrepareAsync(HttpContext context, Func<Task> next)
    {
        var route = context.GetReverseProxyFeature().Route.Config.RouteId;
        if (route is ProxyRoutes.WatchProgressRoute or ProxyRoutes.ReadBatchRoute or ProxyRoutes.WriteBatchRoute)
        {
            // Progress: bound to the node that serves the stream, no other node can answer it. A client's
            // read or write batch: one attempt; if it fails, the client sends each read or write on alone
            // (with these retries; a write with its own Idempotency-Key, so a batch that was applied is not applied again).
            await next();
            return;
        }

        var isWrite = route == ProxyRoutes.WritesRoute;
        var state = new RetryState(isWrite, Stopwatch.GetTimestamp() + (long)(_options.RetryDeadline.TotalSeconds * Stopwatch.Frequency))
        {
            IsWatch = route == ProxyRoutes.WatchRoute,
            MaybeApplied = isWrite && context.Items.ContainsKey(WriteCoalescer.MaybeAppliedItem), // its batch may have been applied
        };
        context.Items[typeof(RetryState)] = state;

        if (isWrite)
        {
            EnsureIdempotencyKey(context.Request);

            // A body larger than the router will buffer is refused at once with 413 (never retried):
            // declared too large here, or cut off by Kestrel when a chunked body grows past it.
            if (context.Request.ContentLength > MaxBufferedBody)
            {
                await WriteTooLargeAsync(context, route);
                return;
            }

            if (context.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit)
            {
                limit.MaxRequestBodySize = MaxBufferedBody;
            }

            context.Request.EnableBuffering(bufferThreshold: 64 * 1024, bufferLimit: MaxBufferedBody);
            if (monitor.Current.WriteLeaderId is null)
            {
                await monitor.WaitForLeaderAsync(state.Remaining, context.RequestAborted, forWrites: true);
            }
        }

        await next();
    }

    public async Task ForwardAsync(HttpContext context, Func<Task> next)
    {
        var feature = context.GetReverseProxyFeature();
        var route = feature.Route.Config.RouteId;
        if (context.Items[typeof(RetryState)] is not RetryState state)
        {
            if (feature.AvailableDestinations.Count == 0)
            {
                await (route is ProxyRoutes.ReadBatchRoute or ProxyRoutes.WriteBatchRoute
                    ? WriteUnavailableAsync(context, route, route == ProxyRoutes.WriteBatchRoute ? "no-leader" : "no-healthy-node")
                    : WriteServiceUnavailableAsync(context, route, "no-node", "no-node", "The stream's node is not available", "The node that serves this watch stream is not reachable; the stream is gone with it. Reconnect the watch with Last-Event-ID."));
                return;
            }

            await next();
            return;
        }

        while (true)
        {
            if (feature.AvailableDestinations.Count == 0)
            {
                // An earlier attempt of this write may still commit: never answer "no leader" (nothing done).
                await (state.IsWrite && state.MaybeApplied
                    ? WriteOutcomeUnknownAsync(context, route)
                    : WriteUnavailableAsync(context, route, state.IsWrite ? "no-leader" : "no-healthy-node"));
                return;
            }

            var destination = feature.AvailableDestinations[0];
            state.Tried.Add(ClusterTopology.NodeIdOf(destination.DestinationId));
            if (state.IsWatch)
            {
                state.Destinations = feature.AllDestinations.Count;
            }
            Activity.Current?.SetTag("aspirecache.route.destination", destination.DestinationId);
            Activity.Current?.SetTag("aspirecache.route.reason", state.Attempts == 0 ? context.Items[RoutingItems.Reason] : "retry");
            state.Attempts++;
            state.RetryRequested = false;

            await next();

            if (state.OutcomeUnknown && !context.Response.HasStarted)
            {
                await WriteOutcomeUnknownAsync(context, route);
                return;
            }

            var forwardError = context.Features.Get<IForwarderErrorFeature>();
            if (forwardError is { Exception: { } error } && IsBodyTooLarge(error) && !context.Response.HasStarted)
            {
                await WriteTooLargeAsync(context, route);
                return;
            }

            var unreachable = forwardError is not null;
            if (unreachable && state.IsWrite && !state.CanRetry && state.Attempts > 1 && !context.Response.HasStarted)
            {
                await WriteOutcomeUnknownAsync(context, route);
                return;
            }

            if ((!state.RetryRequested && !unreachable) || context.Response.HasStarted)
            {
                if (context.Response.StatusCode == StatusCodes.Status421MisdirectedRequest)
                {
                    monitor.RequestRefresh();
                }

                return;
            }

            // Try again: forget this attempt's answer, rewind the body, choose the next node.
            if (unreachable)
            {
                monitor.RequestRefresh();
                state.MaybeApplied |= state.IsWrite; // the node may have received it before it went away
            }

            telemetry.Retried(route, unreachable
                ? forwardError!.Exception is DeposedLeaderException ? "deposed" : "unreachable"
                : context.Response.StatusCode.ToString(CultureInfo.InvariantCulture));
            context.Features.Set<IForwarderErrorFeature>(null);
            context.Response.Clear();
            if (context.Request.Body.CanSeek)
            {
                context.Request.Body.Position = 0;
            }

            var nextDestination = state.IsWrite
                ? await NextLeaderAsync(feature, state, ClusterTopology.NodeIdOf(destination.DestinationId), unreachable, context.RequestAborted)
                : await NextReadNodeAsync(feature, state, context.RequestAborted);
            feature.AvailableDestinations = nextDestination is null ? [] : [nextDestination];
        }
    }

    private async Task<DestinationState?> NextLeaderAsync(IReverseProxyFeature feature, RetryState state, string failedNode, bool unreachable, CancellationToken token)
    {
        if (state.LeaderHint is { } hint && !string.Equals(hint, failedNode, StringComparison.OrdinalIgnoreCase))
        {
            return Find(feature, hint);
        }

        if (!state.CanRetry)
        {
            return null;
        }

        // 502 from the leader: wait for a different one. 503: the same leader may recover (quorum back).
        var topology = await monitor.WaitForLeaderAsync(state.Remaining, token, notThisLeader: unreachable ? failedNode : null, forWrites: true);
        var next = topology.WriteLeaderId;
        if (!unreachable && string.Equals(next, failedNode, StringComparison.OrdinalIgnoreCase))
        {
            await Task.Delay(TimeSpan.FromMilliseconds(50), token);
        }

        return next is { } leader ? Find(feature, leader) : null;
    }

    private async Task<DestinationState?> NextReadNodeAsync(IReverseProxyFeature feature, RetryState state, CancellationToken token)
    {
        if (!state.CanRetry)
        {
            return null;
        }

        if (state.Tried.Count >= feature.AllDestinations.Count)
        {
            // Every node answered "unavailable" (an election): wait for the cluster to settle, then go round again.
            await monitor.WaitForLeaderAsync(TimeSpan.FromMilliseconds(Math.Min(500, state.Remaining.TotalMilliseconds)), token);
            state.Tried.Clear();
            if (!state.CanRetry)
            {
                return null;
            }
        }

        var nodes = monitor.Current.Nodes;
        DestinationState? best = null;
        var bestLatency = double.MaxValue;
        foreach (var destination in feature.AllDestinations)
        {
            var node = ClusterTopology.NodeIdOf(destination.DestinationId);
            if (state.Tried.Contains(node))
            {
                continue;
            }

            var latency = nodes.TryGetValue(node, out var view) && view.Healthy ? view.LatencyMs : double.MaxValue / 2;
            if (latency < bestLatency)
            {
                best = destination;
                bestLatency = latency;
            }
        }

        return best;
    }

    private static DestinationState? Find(IReverseProxyFeature feature, string nodeId)
    {
        foreach (var destination in feature.AllDestinations)
        {
            if (string.Equals(ClusterTopology.NodeIdOf(destination.DestinationId), nodeId, StringComparison.OrdinalIgnoreCase))
            {
                return destination;
            }
        }

        return null;
    }

    private Task WriteUnavailableAsync(HttpContext context, string route, string reason) =>
        WriteServiceUnavailableAsync(
            context,
            route,
            reason,
            reason == "no-leader" ? "no-leader" : "no-node",
            reason == "no-leader" ? "No leader is available" : "No node is available",
            $"No node could serve the request within {_options.RetryDeadline.TotalSeconds:0.#} s: the cluster is electing a leader or has lost its quorum. Retry after the indicated delay.");

    private Task WriteOutcomeUnknownAsync(HttpContext context, string route) =>
        WriteServiceUnavailableAsync(
            context,
            route,
            "outcome-unknown",
            "timeout",
            "The write's outcome is unknown",
            $"The write was sent to a leader that was lost, and no new leader confirmed it within {_options.RetryDeadline.TotalSeconds:0.#} s. It may or may not be applied: retry with the same Idempotency-Key.");

    private static bool IsBodyTooLarge(Exception error)
    {
        for (var e = error; e is not null; e = e.InnerException)
        {
            if (e is BadHttpRequestException { StatusCode: StatusCodes.Status413PayloadTooLarge })
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>413 as an RFC 9457 problem: the body is larger than the router forwards; nothing was sent to a node.</summary>
    private async Task WriteTooLargeAsync(HttpContext context, string route)
    {
        telemetry.Rejected(route, "too-large");
        context.Features.Set<IForwarderErrorFeature>(null);
        context.Response.Clear();
        context.Response.StatusCode = StatusCodes.Status413PayloadTooLarge;
        await problems.WriteAsync(new ProblemDetailsContext
        {
            HttpContext = context,
            ProblemDetails =
            {
                Status = StatusCodes.Status413PayloadTooLarge,
                Type = ProblemTypes.TooLarge,
                Title = "The request is too large",
                Detail = $"The body exceeds the {MaxBufferedBody / (1024 * 1024)} MiB the router forwards (a node's own limits are lower: 1 MiB per value, 4 MiB per batch). Nothing was written.",
            },
        });
    }

    /// <summary>503 + Retry-After as an RFC 9457 problem, counted as a rejection for <paramref name="reason"/>.</summary>
    private async Task WriteServiceUnavailableAsync(HttpContext context, string route, string reason, string type, string title, string detail)
    {
        telemetry.Rejected(route, reason);
        context.Response.Clear();
        context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
        context.Response.Headers.RetryAfter = _options.RetryAfterSeconds.ToString(CultureInfo.InvariantCulture);
        await problems.WriteAsync(new ProblemDetailsContext
        {
            HttpContext = context,
            ProblemDetails =
            {
                Status = StatusCodes.Status503ServiceUnavailable,
                Type = ProblemTypes.Base + type,
                Title = title,
                Detail = detail,
            },
        });
    }

    /// <summary>Per-request retry bookkeeping.</summary>
    internal sealed class RetryState(bool isWrite, long deadline)
    {
        public bool IsWrite { get; } = isWrite;

        /// <summary>
        /// A watch whose resume point one node no longer holds (410: it restarted or installed a
        /// snapshot) is tried on the other nodes, which may still have the history; only when every
        /// node says 410 does the client get it (and resyncs).
        /// </summary>
        public bool IsWatch { get; init; }

        public int Destinations { get; set; }

        public int Attempts { get; set; }

        public bool RetryRequested { get; set; }

        /// <summary>An earlier attempt may have applied the write: never report a definite failure.</summary>
        public bool OutcomeUnknown { get; set; }

        /// <summary>
        /// A retried attempt of this write was answered "outcome unknown" (<c>leadership-lost</c>,
        /// <c>timeout</c>) or its node could not be reached: if no later attempt succeeds, the client
        /// hears "outcome unknown" (503 <c>timeout</c>), never "no leader".
        /// </summary>
        public bool MaybeApplied { get; set; }

        public string? LeaderHint { get; set; }

        public HashSet<string> Tried { get; } = new(StringComparer.OrdinalIgnoreCase);

        public bool CanRetry => Attempts < MaxAttempts && Stopwatch.GetTimestamp() < deadline;

        public TimeSpan Remaining => TimeSpan.FromSeconds(Math.Max(0, (double)(deadline - Stopwatch.GetTimestamp()) / Stopwatch.Frequency));

        public bool ShouldRetry(int status) => CanRetry && status switch
        {
            StatusCodes.Status410Gone => IsWatch && Tried.Count < Destinations,
            StatusCodes.Status421MisdirectedRequest => IsWrite,
            StatusCodes.Status503ServiceUnavailable => true,
            _ => false,
        };
    }
}
