using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using AspireCache.Router.Diagnostics;
using AspireCache.Router.Topology;
using Microsoft.Extensions.Options;
using Yarp.ReverseProxy.Model;

namespace AspireCache.Router.Routing;

/// <summary>
/// Coalesces single-key writes (<c>PUT</c>/<c>DELETE /cache/{key}</c>): the writes for the leader
/// and one credential that arrive while <see cref="WriteCoalescingOptions.MaxInFlight"/> requests to
/// it are in flight wait and go together in the next one, <c>POST /cluster/write-batch</c>
/// (<see cref="WriteBatchWire"/>): one HTTP exchange for all of them instead of one each, and one
/// log entry through the leader's group commit. The first write to an idle leader goes at once, alone.
/// <para><b>Not atomic, nothing shared.</b> Each write is its own request to the state machine — its
/// own conditions, TTL and <c>Idempotency-Key</c> (the router gives one to every write before it is
/// queued, as for any write) — and gets exactly the answer its own request would have: the node
/// runs the same handler on it and returns its status, headers and body.</para>
/// <para><b>Still linearizable, still exactly once.</b> A write is in flight from the moment it
/// arrived until its answer; the batch only carries it. When a batch fails — unreachable, refused,
/// over <see cref="WriteCoalescingOptions.Timeout"/>, malformed — or a write in it hears "not leader"
/// or "unavailable", that write goes through the ordinary proxy path on its own with the same
/// <c>Idempotency-Key</c>: the leader's retries (as for an uncoalesced write), and if it had already
/// been applied, the state machine answers with the recorded result. Where the batch may have been
/// applied, a write that then finds no leader hears "outcome unknown" (never "not applied").</para>
/// <para>Only plain writes are coalesced: PUT with a declared body up to
/// <see cref="WriteCoalescingOptions.MaxValueBytes"/>, DELETE without a body, no <c>%</c> in the
/// key, not a reserved name, at most one <c>Authorization</c>, <c>If-Match</c>,
/// <c>If-None-Match</c>, <c>Idempotency-Key</c> and <c>Accept</c> header; and only while a leader is known.</para>
/// </summary>
internal sealed class WriteCoalescer
{
    /// <summary>HttpContext.Items key: a write whose batch may have been applied goes on alone as "outcome unknown if no leader".</summary>
    public const string MaybeAppliedItem = "aspirecache.write.maybe-applied";

    private static readonly MediaTypeHeaderValue RequestMediaType = new(WriteBatchWire.RequestMediaType);

    private readonly WriteCoalescingOptions _options;
    private readonly LeaderLoadBalancingPolicy _leader;
    private readonly RouterTelemetry _telemetry;
    private readonly CoalescingQueues<PendingWrite> _queues;
    private long _queuedBytes;

    public WriteCoalescer(LeaderLoadBalancingPolicy leader, RouterTelemetry telemetry, IOptions<RouterOptions> options)
    {
        _leader = leader;
        _telemetry = telemetry;
        _options = options.Value.WriteCoalescing;
        _queues = new CoalescingQueues<PendingWrite>(_options.MaxGroups, _options.MaxQueued, _options.MaxInFlight, _options.MaxBatchWrites, _options.MaxBatchBytes, static write => write.Write.Body.Length, SendAsync);
        telemetry.ObserveWriteBatchGroups(() => _queues.Count, () => Interlocked.Read(ref _queuedBytes));
    }

    /// <summary>YARP pipeline step: send an eligible write in a batch, or pass it on.</summary>
    public async Task CoalesceAsync(HttpContext context, Func<Task> next)
    {
        var feature = context.GetReverseProxyFeature();
        if (!_options.Enabled || !IsEligible(context, feature, _options.MaxValueBytes, out var key, out var method)
            || feature.Route.Cluster is not { } cluster
            || _leader.PickDestination(context, cluster, feature.AvailableDestinations) is not { } destination)
        {
            await next(); // (no leader known: the proxy path waits for one)
            return;
        }

        var request = context.Request;
        var headers = request.Headers;
        RetryingProxySteps.EnsureIdempotencyKey(request); // as the proxy path would: every retry is the same request

        var body = Array.Empty<byte>();
        if (method == WriteBatchWire.Put && request.ContentLength is { } length && length > 0)
        {
            body = new byte[length];
            await request.Body.ReadExactlyAsync(body, context.RequestAborted);
        }

        request.Body = new MemoryStream(body, writable: false); // what the proxy path sends if the write goes on alone

        var write = new WriteBatchWire.Write(method, key, request.QueryString.Value ?? "", Single(headers.IfMatch), Single(headers.IfNoneMatch), Single(headers[CacheHeaders.IdempotencyKey]), Single(headers.Accept), body);
        if (!WriteBatchWire.Fits(write))
        {
            _telemetry.WriteForwardedAlone("too-long");
            await next();
            return;
        }

        // Bounded: the values of queued and in-flight writes together (beyond it a write goes alone, as before coalescing).
        if (Interlocked.Add(ref _queuedBytes, body.Length) > _options.MaxQueuedBytes && body.Length > 0)
        {
            Interlocked.Add(ref _queuedBytes, -body.Length);
            _telemetry.WriteForwardedAlone("bytes-full");
            await next();
            return;
        }

        Outcome outcome;
        try
        {
            var pending = new PendingWrite(write, Activity.Current?.Context ?? default);
            if (!_queues.TryEnqueue(new CoalescingKey(destination.DestinationId, headers.Authorization, Stale: false), cluster, destination, pending, out var refusal))
            {
                _telemetry.WriteForwardedAlone(refusal!);
                await next();
                return;
            }

            outcome = await pending.Task;
        }
        finally
        {
            Interlocked.Add(ref _queuedBytes, -body.Length);
        }

        if (ForwardAloneReason(outcome) is { } reason)
        {
            // On alone, with the proxy path's retries (the same Idempotency-Key: never applied twice).
            _telemetry.WriteForwardedAlone(reason);
            if (outcome.MaybeApplied || (outcome.Answer is { } refused && ProblemTypes.SaysOutcomeUnknown(Encoding.UTF8.GetString(refused.Body.Span))))
            {
                context.Items[MaybeAppliedItem] = true;
            }

            await CoalescedBatch.ForwardAloneAsync(context, next);
            return;
        }

        CoalescedBatch.TagCoalesced(destination);
        await WriteAsync(context, outcome.Answer!.Value);
    }

    /// <summary>The key and method of a write that may be coalesced (see the class summary).</summary>
    private static bool IsEligible(HttpContext context, IReverseProxyFeature feature, int maxValueBytes, out string key, out byte method)
    {
        key = string.Empty;
        method = 0;
        var request = context.Request;
        if (feature.Route.Config.RouteId != ProxyRoutes.WritesRoute
            || request.RouteValues["key"] is not string routeKey
            || routeKey.Length == 0
            || routeKey.Contains('%')
            || CachePaths.IsReservedKey(routeKey))
        {
            return false;
        }

        var headers = request.Headers;
        if (headers.TransferEncoding.Count > 0 || headers.Authorization.Count > 1 || headers.IfMatch.Count > 1
            || headers.IfNoneMatch.Count > 1 || headers[CacheHeaders.IdempotencyKey].Count > 1 || headers.Accept.Count > 1)
        {
            return false;
        }

        if (HttpMethods.IsPut(request.Method) && request.ContentLength is { } length && length <= maxValueBytes)
        {
            method = WriteBatchWire.Put;
        }
        else if (HttpMethods.IsDelete(request.Method) && request.ContentLength is null or 0)
        {
            method = WriteBatchWire.Delete;
        }
        else
        {
            return false;
        }

        key = routeKey;
        return true;
    }

    private static string? Single(Microsoft.Extensions.Primitives.StringValues values) => values.Count == 0 ? null : values[0];

    /// <summary>Why a write goes on alone after all (null: its answer is the node's own).</summary>
    private static string? ForwardAloneReason(Outcome outcome) => outcome.Answer?.Status switch
    {
        null => "batch-failed",
        WriteBatchWire.Skipped => "skipped",
        StatusCodes.Status421MisdirectedRequest or StatusCodes.Status503ServiceUnavailable => "not-leader",
        _ => null,
    };

    private async Task SendAsync(CoalescingGroup<PendingWrite> group, List<PendingWrite> batch)
    {
        var writes = new WriteBatchWire.Write[batch.Count];
        for (var i = 0; i < batch.Count; i++)
        {
            writes[i] = batch[i].Write;
        }

        using var activity = CoalescedBatch.StartActivity("write batch", group, batch, static write => write.Caller, "aspirecache.write_batch.writes");
        _telemetry.WriteBatchSent(writes.Length);
        var sent = false;
        try
        {
            using var timeout = new CancellationTokenSource(_options.Timeout);
            using var request = CoalescedBatch.Request(group, WriteBatchWire.Path, WriteBatchWire.EncodeRequest(writes), RequestMediaType);
            request.Options.Set(DeposedLeaderHandler.Leader, ClusterTopology.NodeIdOf(group.Destination.DestinationId)); // abandoned if another leader is named
            sent = true;
            using var response = await group.Cluster.Model.HttpClient.SendAsync(request, timeout.Token);
            if (response.StatusCode != HttpStatusCode.OK || response.Content.Headers.ContentType?.MediaType != WriteBatchWire.ResponseMediaType)
            {
                // Refused as a whole before any write was proposed (auth, not leader, limits)? Else: may have been applied.
                activity?.SetTag("http.response.status_code", (int)response.StatusCode);
                Fail(batch, maybeApplied: (int)response.StatusCode is not (400 or 401 or 403 or 404 or 405 or 413 or 415 or 421 or 429));
                return;
            }

            var body = await response.Content.ReadAsByteArrayAsync(timeout.Token);
            var answers = new WriteBatchWire.Answer[batch.Count];
            if (!WriteBatchWire.TryDecodeResponse(body, batch.Count, answers))
            {
                activity?.SetStatus(ActivityStatusCode.Error, "malformed answer");
                Fail(batch, maybeApplied: true);
                return;
            }

            for (var i = 0; i < batch.Count; i++)
            {
                batch[i].TrySetResult(new Outcome(answers[i], MaybeApplied: false));
            }
        }
        catch (Exception ex)
        {
            // Whatever went wrong (unreachable, timeout, shutting down), each write goes on alone with its
            // Idempotency-Key; unless no connection was ever made, the batch may have been applied.
            activity?.SetStatus(ActivityStatusCode.Error, ex.GetType().Name);
            Fail(batch, maybeApplied: sent && ex is not HttpRequestException { HttpRequestError: HttpRequestError.ConnectionError });
        }
    }

    private static void Fail(List<PendingWrite> batch, bool maybeApplied)
    {
        foreach (var write in batch)
        {
            write.TrySetResult(new Outcome(null, maybeApplied));
        }
    }

    /// <summary>Writes the node's answer to this write: its status, headers and body.</summary>
    private static Task WriteAsync(HttpContext context, WriteBatchWire.Answer answer)
    {
        var response = context.Response;
        response.StatusCode = answer.Status;
        foreach (var (name, value) in answer.Headers)
        {
            response.Headers.Append(name, value);
        }

        if (answer.Body.IsEmpty)
        {
            return Task.CompletedTask;
        }

        response.ContentLength = answer.Body.Length;
        return response.Body.WriteAsync(answer.Body).AsTask(); // (a caller that went away: Kestrel discards it)
    }

    private sealed class PendingWrite(WriteBatchWire.Write write, ActivityContext caller) : TaskCompletionSource<Outcome>(TaskCreationOptions.RunContinuationsAsynchronously)
    {
        public WriteBatchWire.Write Write { get; } = write;
        public ActivityContext Caller { get; } = caller;
    }

    /// <summary>A write's share of a batch; <see cref="Answer"/> null: the batch failed, send the write on its own.</summary>
    private readonly record struct Outcome(WriteBatchWire.Answer? Answer, bool MaybeApplied);
}
