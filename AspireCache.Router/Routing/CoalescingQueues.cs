using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using AspireCache.Router.Diagnostics;
using Yarp.ReverseProxy.Model;

namespace AspireCache.Router.Routing;

/// <summary>Requests are coalesced with others for the same node, credential (the <c>Authorization</c> header as sent) and kind.</summary>
internal readonly record struct CoalescingKey(string DestinationId, string? Authorization, bool Stale);

/// <summary>The requests for one <see cref="CoalescingKey"/>: queued, and how many senders are in flight.</summary>
internal sealed class CoalescingGroup<TItem>(CoalescingKey key, ClusterState cluster, DestinationState destination)
{
    public CoalescingKey Key { get; } = key;
    public ClusterState Cluster { get; } = cluster;
    public DestinationState Destination { get; } = destination;
    public Queue<TItem> Queue { get; } = new();
    public int InFlight { get; set; }

    /// <summary>Idle and out of the table: a request that still finds it takes a new one.</summary>
    public bool Closed { get; set; }
}

/// <summary>
/// The queues of the router's coalescers (<see cref="ReadCoalescer"/>, <see cref="WriteCoalescer"/>):
/// per node, credential and kind, requests wait while <paramref name="maxInFlight"/> batches to that
/// node are in flight and leave together in the next one (at most <paramref name="maxBatchItems"/>
/// items and, after the first, <paramref name="maxBatchBytes"/> of <paramref name="bytesOf"/>). The
/// first request to an idle node goes at once, alone. Bounded: <paramref name="maxGroups"/> groups,
/// <paramref name="maxQueued"/> requests per queue; beyond either, <see cref="TryEnqueue"/> says no
/// and the request goes on its own. A sender answers every item it takes (<paramref name="send"/>
/// must complete them all, whatever goes wrong), so no request is left waiting.
/// </summary>
internal sealed class CoalescingQueues<TItem>(
    int maxGroups,
    int maxQueued,
    int maxInFlight,
    int maxBatchItems,
    long maxBatchBytes,
    Func<TItem, int> bytesOf,
    Func<CoalescingGroup<TItem>, List<TItem>, Task> send)
{
    private readonly ConcurrentDictionary<CoalescingKey, CoalescingGroup<TItem>> _groups = new();

    /// <summary>Groups with requests queued or in flight.</summary>
    public int Count => _groups.Count;

    /// <summary>Queues <paramref name="item"/> (and starts a sender if fewer than the maximum are in flight); false with the reason when a bound is reached.</summary>
    public bool TryEnqueue(CoalescingKey key, ClusterState cluster, DestinationState destination, TItem item, out string? refusal)
    {
        refusal = null;
        for (var attempt = 0; attempt < 2; attempt++)
        {
            if (!_groups.TryGetValue(key, out var group))
            {
                if (_groups.Count >= maxGroups)
                {
                    refusal = "groups-full";
                    return false;
                }

                group = _groups.GetOrAdd(key, static (k, state) => new CoalescingGroup<TItem>(k, state.cluster, state.destination), (cluster, destination));
            }

            bool start;
            lock (group)
            {
                if (group.Closed)
                {
                    continue; // went idle and left the table just now: take a new one
                }

                if (group.Queue.Count >= maxQueued)
                {
                    refusal = "queue-full";
                    return false;
                }

                group.Queue.Enqueue(item);
                start = group.InFlight < maxInFlight;
                if (start)
                {
                    group.InFlight++;
                }
            }

            if (start)
            {
                _ = RunAsync(group);
            }

            return true;
        }

        // The group went idle and left the table under this request twice in a row: rare, and not a bound.
        refusal = "contended";
        return false;
    }

    /// <summary>One sender of a group: sends what is queued, again and again, until nothing is.</summary>
    private async Task RunAsync(CoalescingGroup<TItem> group)
    {
        System.Diagnostics.Activity.Current = null; // a batch is not part of the trace of the request that started this sender
        var batch = new List<TItem>();
        while (true)
        {
            lock (group)
            {
                long bytes = 0;
                while (group.Queue.Count > 0 && batch.Count < maxBatchItems)
                {
                    var size = bytesOf(group.Queue.Peek());
                    if (batch.Count > 0 && bytes + size > maxBatchBytes)
                    {
                        break;
                    }

                    bytes += size;
                    batch.Add(group.Queue.Dequeue());
                }

                if (batch.Count == 0)
                {
                    if (--group.InFlight == 0)
                    {
                        group.Closed = true;
                        _groups.TryRemove(new KeyValuePair<CoalescingKey, CoalescingGroup<TItem>>(group.Key, group));
                    }

                    return;
                }
            }

            await send(group, batch);
            batch.Clear();
        }
    }
}

/// <summary>What the coalescers' senders share: the batch's trace and its request to the node.</summary>
internal static class CoalescedBatch
{
    /// <summary>
    /// A root span for the batch (it belongs to no caller's trace) with a link to each caller's span,
    /// the node and the batch size as tags; null when nobody records the router's spans.
    /// </summary>
    public static Activity? StartActivity<TItem>(string name, CoalescingGroup<TItem> group, List<TItem> batch, Func<TItem, ActivityContext> callerOf, string sizeTag)
    {
        if (!RouterTelemetry.Source.HasListeners())
        {
            return null;
        }

        var links = new List<ActivityLink>(batch.Count);
        foreach (var item in batch)
        {
            if (callerOf(item) is var caller && caller != default)
            {
                links.Add(new ActivityLink(caller));
            }
        }

        var activity = RouterTelemetry.Source.StartActivity(name, ActivityKind.Internal, default(ActivityContext), links: links);
        activity?.SetTag("aspirecache.route.destination", group.Key.DestinationId);
        activity?.SetTag(sizeTag, batch.Count);
        return activity;
    }

    /// <summary>A request the batch did not answer goes through the proxy path on its own (its destination chosen afresh).</summary>
    public static Task ForwardAloneAsync(HttpContext context, Func<Task> next)
    {
        context.Items.Remove(RoutingItems.Reason);
        return next();
    }

    /// <summary>Marks the caller's span: answered from a batch sent to <paramref name="destination"/>.</summary>
    public static void TagCoalesced(DestinationState destination)
    {
        var activity = Activity.Current;
        activity?.SetTag("aspirecache.route.destination", destination.DestinationId);
        activity?.SetTag("aspirecache.route.reason", "coalesced");
    }

    /// <summary>The batch's POST to the group's node, with the callers' credential.</summary>
    public static HttpRequestMessage Request<TItem>(CoalescingGroup<TItem> group, string path, byte[] body, MediaTypeHeaderValue mediaType)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, new Uri(new Uri(group.Destination.Model.Config.Address), path))
        {
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionOrLower,
            Content = new ByteArrayContent(body),
        };
        request.Content.Headers.ContentType = mediaType;
        if (group.Key.Authorization is { } authorization)
        {
            request.Headers.TryAddWithoutValidation("Authorization", authorization);
        }

        return request;
    }
}
