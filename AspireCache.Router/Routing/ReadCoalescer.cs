using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using AspireCache.Router.Diagnostics;
using AspireCache.Router.Topology;
using Microsoft.Extensions.Options;
using Yarp.ReverseProxy.Model;

namespace AspireCache.Router.Routing;

/// <summary>
/// Coalesces single-key GETs: the reads for one node, one credential and one consistency that arrive
/// while <see cref="ReadCoalescingOptions.MaxInFlight"/> requests to that node are in flight wait and
/// go together in the next one, <c>POST /cluster/read-batch</c> (<see cref="ReadBatchWire"/>): one
/// HTTP exchange and one read index for all of them, instead of one each. The first GET of an idle
/// node goes at once, alone.
/// <para><b>Still linearizable.</b> A batch is sent after every read in it arrived, so the node's read
/// index (confirmed after the batch arrives) is not older than any write acknowledged before any of
/// them was invoked, and every key is read from one view at or after it: each answer is one its own
/// GET could have given.</para>
/// <para><b>Same answers.</b> A found key gets the node's 200 (or 304 for a matching
/// <c>If-None-Match</c>) with the node's headers, a missing one the node's 404 problem. Everything
/// else goes through the ordinary proxy path on its own: a key the node skipped (invalid, outside the
/// credential's prefixes, past the answer's byte budget), a batch the node refused or did not answer
/// (401/403/429/503, unreachable, <see cref="ReadCoalescingOptions.Timeout"/>), a full queue or
/// table — so errors, retries and Retry-After are exactly those of an uncoalesced GET.</para>
/// <para>While no leader is known (an election), linearizable GETs are not batched: each goes alone at
/// once, exactly as with coalescing off.</para>
/// <para>Stale reads (<c>consistent=false</c>) are batched too, apart from linearizable ones: each
/// gets the node's local state at once, as its own GET would.</para>
/// <para>Only plain GETs are coalesced: no query but <c>consistent</c>, no <c>Range</c> or
/// date/<c>If-Match</c> preconditions, no <c>%</c> in the key, not a reserved name.</para>
/// </summary>
internal sealed class ReadCoalescer
{
    private readonly ReadCoalescingOptions _options;
    private readonly NearestLoadBalancingPolicy _nearest;
    private readonly ITopologySource _topology;
    private readonly IProblemDetailsService _problems;
    private readonly RouterTelemetry _telemetry;
    private readonly CoalescingQueues<PendingRead> _queues;

    public ReadCoalescer(NearestLoadBalancingPolicy nearest, ITopologySource topology, IProblemDetailsService problems, RouterTelemetry telemetry, IOptions<RouterOptions> options)
    {
        _topology = topology;
        _options = options.Value.ReadCoalescing;
        _nearest = nearest;
        _problems = problems;
        _telemetry = telemetry;
        _queues = new CoalescingQueues<PendingRead>(_options.MaxGroups, _options.MaxQueued, _options.MaxInFlight, _options.MaxBatchKeys, long.MaxValue, static _ => 0, SendAsync);
        telemetry.ObserveReadBatchGroups(() => _queues.Count);
    }

    /// <summary>YARP pipeline step: serve an eligible GET from a batch, or pass it on.</summary>
    public async Task CoalesceAsync(HttpContext context, Func<Task> next)
    {
        var feature = context.GetReverseProxyFeature();
        if (!_options.Enabled || !TryGetKey(context, feature, out var key, out var stale))
        {
            await next();
            return;
        }

        // No leader known (an election): a linearizable batch could only wait and fail, and then each
        // of its GETs would go alone anyway; they go alone at once, with the proxy path's retries.
        if (!stale && _topology.Current.LeaderId is null)
        {
            await next();
            return;
        }

        if (feature.Route.Cluster is not { } cluster
            || _nearest.PickDestination(context, cluster, feature.AvailableDestinations) is not { } destination)
        {
            await next(); // no node: the proxy path answers (retries, then 503)
            return;
        }

        var pending = new PendingRead(key, Activity.Current?.Context ?? default);
        if (!_queues.TryEnqueue(new CoalescingKey(destination.DestinationId, context.Request.Headers.Authorization, stale), cluster, destination, pending, out var refusal))
        {
            _telemetry.ReadForwardedAlone(refusal!);
            await next();
            return;
        }

        var answer = await pending.Task;
        if (answer.Batch is not { } batch || answer.Item.Status == ReadBatchWire.Skipped)
        {
            _telemetry.ReadForwardedAlone(answer.Batch is null ? "batch-failed" : "skipped");
            await CoalescedBatch.ForwardAloneAsync(context, next);
            return;
        }

        CoalescedBatch.TagCoalesced(destination);
        await WriteAsync(context, key, batch, answer.Item);
    }

    /// <summary>The key of a GET that may be coalesced (see the class summary), and whether it asks for a stale read.</summary>
    private static bool TryGetKey(HttpContext context, IReverseProxyFeature feature, out string key, out bool stale)
    {
        key = string.Empty;
        stale = false;
        var request = context.Request;
        if (!HttpMethods.IsGet(request.Method)
            || feature.Route.Config.RouteId != ProxyRoutes.ReadsRoute
            || request.RouteValues["key"] is not string routeKey
            || routeKey.Length == 0
            || routeKey.Contains('%')
            || CachePaths.IsReservedKey(routeKey))
        {
            return false;
        }

        if (request.QueryString.HasValue)
        {
            // Only `consistent`, once, as the node parses it (anything else: the node's own answer, e.g. its 400).
            if (request.Query.Count != 1
                || !request.Query.TryGetValue("consistent", out var consistent)
                || consistent.Count != 1
                || !bool.TryParse(consistent[0], out var linearizable))
            {
                return false;
            }

            stale = !linearizable;
        }

        var headers = request.Headers;
        if (headers.Range.Count > 0 || headers.IfMatch.Count > 0 || headers.IfModifiedSince.Count > 0
            || headers.IfUnmodifiedSince.Count > 0 || headers.IfRange.Count > 0 || headers.Authorization.Count > 1)
        {
            return false;
        }

        key = routeKey;
        return true;
    }

    private async Task SendAsync(CoalescingGroup<PendingRead> group, List<PendingRead> batch)
    {
        var keys = new string[batch.Count];
        for (var i = 0; i < batch.Count; i++)
        {
            keys[i] = batch[i].Key;
        }

        using var activity = CoalescedBatch.StartActivity("read batch", group, batch, static read => read.Caller, "aspirecache.read_batch.keys");
        _telemetry.ReadBatchSent(keys.Length);
        try
        {
            using var timeout = new CancellationTokenSource(_options.Timeout);
            using var request = CoalescedBatch.Request(group, group.Key.Stale ? StalePath : ReadBatchWire.Path, ReadBatchWire.EncodeRequest(keys), RequestMediaType);
            if (AtWriteLeader(group.Destination.DestinationId, _topology.Current) is { } leader)
            {
                // Abandoned once another leader is named (its reads then go on alone, to healthy nodes),
                // instead of waiting out the Timeout on a paused or frozen leader.
                request.Options.Set(DeposedLeaderHandler.Leader, leader);
            }

            using var response = await group.Cluster.Model.HttpClient.SendAsync(request, timeout.Token);
            if (response.StatusCode != HttpStatusCode.OK || response.Content.Headers.ContentType?.MediaType != ReadBatchWire.ResponseMediaType)
            {
                activity?.SetTag("http.response.status_code", (int)response.StatusCode);
                Complete(batch, null, null);
                return;
            }

            var body = await response.Content.ReadAsByteArrayAsync(timeout.Token);
            var items = new ReadBatchWire.Item[batch.Count];
            if (!ReadBatchWire.TryDecodeResponse(body, batch.Count, out var now, items))
            {
                activity?.SetStatus(ActivityStatusCode.Error, "malformed answer");
                Complete(batch, null, null);
                return;
            }

            Complete(batch, new BatchAnswer(response, now), items);
        }
        catch (Exception ex)
        {
            // Whatever went wrong (unreachable, timeout, shutting down), forwarding each GET on its own
            // is always safe, and a sender must never stop without answering its batch.
            activity?.SetStatus(ActivityStatusCode.Error, ex.GetType().Name);
            Complete(batch, null, null); // each GET goes on its own, with the proxy path's retries
        }
    }

    /// <summary>The node id of <paramref name="destinationId"/> when <paramref name="topology"/> names it the write leader; else null.</summary>
    internal static string? AtWriteLeader(string destinationId, ClusterTopology topology)
    {
        var node = ClusterTopology.NodeIdOf(destinationId);
        return string.Equals(topology.WriteLeaderId, node, StringComparison.OrdinalIgnoreCase) ? node : null;
    }

    private static void Complete(List<PendingRead> batch, BatchAnswer? answer, ReadBatchWire.Item[]? items)
    {
        for (var i = 0; i < batch.Count; i++)
        {
            batch[i].TrySetResult(new Answer(answer, items is null ? default : items[i]));
        }
    }

    /// <summary>Writes what the node's own GET would have answered: 200 with the value, 304, or the 404 problem.</summary>
    private Task WriteAsync(HttpContext context, string key, BatchAnswer batch, ReadBatchWire.Item item)
    {
        var response = context.Response;
        var headers = response.Headers;
        if (batch.Node is not null)
        {
            headers[CacheHeaders.Node] = batch.Node;
        }

        if (batch.Role is not null)
        {
            headers[CacheHeaders.Role] = batch.Role;
        }

        headers[CacheHeaders.Consistency] = batch.Consistency;
        if (batch.ReadIndex is not null)
        {
            headers[CacheHeaders.ReadIndex] = batch.ReadIndex;
        }

        if (batch.CommitIndex is not null)
        {
            headers[CacheHeaders.CommitIndex] = batch.CommitIndex;
        }

        headers[CacheHeaders.AppliedIndex] = batch.AppliedIndex;
        headers[CacheHeaders.Revision] = batch.Revision;
        if (item.Status == ReadBatchWire.NotFound)
        {
            response.StatusCode = StatusCodes.Status404NotFound;
            return _problems.WriteAsync(new ProblemDetailsContext
            {
                HttpContext = context,
                ProblemDetails =
                {
                    Status = StatusCodes.Status404NotFound,
                    Type = ProblemTypes.KeyNotFound,
                    Title = ProblemTexts.KeyNotFoundTitle,
                    Detail = ProblemTexts.KeyNotFoundDetail(key),
                },
            }).AsTask();
        }

        var etag = CacheHeaders.ETagOf(item.Version);
        headers.ETag = etag;
        if (item.ExpiresUnixMs != 0)
        {
            headers[CacheHeaders.TtlMs] = (item.ExpiresUnixMs - batch.NowUnixMs).ToString(CultureInfo.InvariantCulture);
            headers.Expires = DateTimeOffset.FromUnixTimeMilliseconds(item.ExpiresUnixMs).ToString("R", CultureInfo.InvariantCulture);
        }

        foreach (var candidate in context.Request.Headers.IfNoneMatch)
        {
            if (candidate == etag || candidate == "*")
            {
                response.StatusCode = StatusCodes.Status304NotModified;
                return Task.CompletedTask;
            }
        }

        response.StatusCode = StatusCodes.Status200OK;
        headers.LastModified = DateTimeOffset.FromUnixTimeMilliseconds(item.UpdatedUnixMs).ToString("R", CultureInfo.InvariantCulture);
        response.ContentType = "application/octet-stream";
        response.ContentLength = item.Value.Length;
        return response.Body.WriteAsync(item.Value).AsTask(); // (a caller that went away: Kestrel discards it)
    }

    private static readonly MediaTypeHeaderValue RequestMediaType = new(ReadBatchWire.RequestMediaType);

    private const string StalePath = ReadBatchWire.Path + "?consistent=false";

    private sealed class PendingRead(string key, ActivityContext caller) : TaskCompletionSource<Answer>(TaskCreationOptions.RunContinuationsAsynchronously)
    {
        public string Key { get; } = key;
        public ActivityContext Caller { get; } = caller;
    }

    /// <summary>A GET's share of a batch; <see cref="Batch"/> null: the batch failed, forward the GET on its own.</summary>
    private readonly record struct Answer(BatchAnswer? Batch, ReadBatchWire.Item Item);

    /// <summary>What every key of one batch shares: the read's headers and the node's clock.</summary>
    private sealed class BatchAnswer(HttpResponseMessage response, long nowUnixMs)
    {
        public string? Node { get; } = Header(response, CacheHeaders.Node);
        public string? Role { get; } = Header(response, CacheHeaders.Role);
        public string? Consistency { get; } = Header(response, CacheHeaders.Consistency);
        public string? ReadIndex { get; } = Header(response, CacheHeaders.ReadIndex);
        public string? CommitIndex { get; } = Header(response, CacheHeaders.CommitIndex);
        public string? AppliedIndex { get; } = Header(response, CacheHeaders.AppliedIndex);
        public string? Revision { get; } = Header(response, CacheHeaders.Revision);
        public long NowUnixMs { get; } = nowUnixMs;

        private static string? Header(HttpResponseMessage response, string name) =>
            response.Headers.TryGetValues(name, out var values) ? values.FirstOrDefault() : null;
    }
}
