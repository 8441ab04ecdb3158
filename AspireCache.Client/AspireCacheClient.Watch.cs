using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using AspireCache.Contracts;

namespace AspireCache.Client;

public sealed partial class AspireCacheClient
{
    /// <inheritdoc />
    /// <remarks>
    /// <para>
    /// Exactly once: the client hands out the events of a revision only when the event carrying its
    /// <c>id:</c> arrived (the server puts it on the last event of each revision), so a stream cut
    /// inside a batch is resumed before the batch and nothing is yielded twice.
    /// </para>
    /// <para>
    /// Reconnects: on a dropped connection, an end of stream, or <c>event: error</c> (slow consumer,
    /// node stopping, snapshot installed) it reopens with <c>Last-Event-ID</c> = the last <c>id:</c>
    /// received. 503/502/504 and connection failures are retried with backoff, 429 (the credential's
    /// rate or watch-stream limit) no sooner than its <c>Retry-After</c>; if no stream opens for a
    /// whole <see cref="AspireCacheClientOptions.Deadline"/>, the enumeration throws the last error:
    /// <see cref="UnavailableException"/> or <see cref="RateLimitedException"/> (resume later with
    /// <see cref="WatchRequest.AfterRevision"/> = the last revision seen).
    /// </para>
    /// <para>
    /// Resync (410, the server's history no longer reaches the resume point): the client lists every
    /// watched prefix and key (linearizable pages), yields <see cref="WatchEventType.Resync"/> with
    /// the first page's revision R, one <see cref="WatchEventType.Put"/> per listed key (revision =
    /// the key's version), a <see cref="WatchEventType.Progress"/> at R, and then watches after R.
    /// Each later page has its own revision ≥ R: the changes after R to keys that such a page already
    /// reflected are dropped, so none is delivered twice. A consumer treats Resync as "forget the
    /// watched keys": those not yielded again were deleted meanwhile. The choice (synthesize rather
    /// than throw) keeps every consumer correct without a code path for gaps.
    /// </para>
    /// </remarks>
    public async IAsyncEnumerable<WatchEvent> WatchAsync(WatchRequest request, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        await foreach (var batch in WatchBatchesAsync(request, cancellationToken).ConfigureAwait(false))
        {
            foreach (var change in batch.Events)
            {
                yield return change;
            }
        }
    }

    /// <summary>
    /// <see cref="WatchAsync"/> a revision at a time: each batch holds every event of one revision
    /// (or one progress event, or one event of a resync listing), and says which stream it came from.
    /// </summary>
    internal async IAsyncEnumerable<WatchBatch> WatchBatchesAsync(WatchRequest request, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.Prefixes.Count == 0 && request.Keys.Count == 0)
        {
            throw new ArgumentException("Watch at least one prefix or key.", nameof(request));
        }

        var basePath = WatchPath(request);
        long? resume = request.AfterRevision;
        ResyncFilter? filter = null;
        var failures = 0;
        DateTime? failingSince = null;
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var opened = await OpenWatchAsync(basePath, resume, cancellationToken).ConfigureAwait(false);
            if (opened.Response is null)
            {
                // Not opened (connection failure, 503...): retry until a whole deadline failed.
                failingSince ??= DateTime.UtcNow;
                failures++;
                if (opened.Fatal is not null)
                {
                    throw opened.Fatal;
                }

                if (opened.Gone)
                {
                    // 410: the history no longer reaches `resume`. List, then watch from the list's revision.
                    AspireCacheClientTelemetry.WatchReconnects.Add(1, new KeyValuePair<string, object?>("reason", "resync"));
                    var resync = new Resync(this, request);
                    await foreach (var synthetic in resync.RunAsync(cancellationToken).ConfigureAwait(false))
                    {
                        // The closing progress names the highest page revision: the state is at one
                        // revision once the watch has delivered up to it.
                        yield return synthetic.Type == WatchEventType.Progress
                            ? new WatchBatch([synthetic], synthetic.Revision, null, resync.ListedThrough)
                            : new WatchBatch([synthetic], synthetic.Revision, null, null);
                    }

                    resume = resync.Revision;
                    filter = resync.Filter;
                    failures = 0;
                    failingSince = null;
                    continue;
                }

                if (DateTime.UtcNow - failingSince > _options.Deadline)
                {
                    throw opened.Error ?? new UnavailableException(0, null, "The watch could not be reopened", null, null);
                }

                // 429 (over a limit for this credential): no sooner than the server's Retry-After.
                var delay = Backoff(failures);
                if (opened.Error is RateLimitedException { RetryAfter: { } retryAfter } && retryAfter > delay)
                {
                    delay = retryAfter;
                }

                await Task.Delay(delay, cancellationToken).ConfigureAwait(false);
                continue;
            }

            failures = 0;
            failingSince = null;
            using var response = opened.Response;
            using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false), Encoding.UTF8);
            var pending = new List<WatchEvent>();
            var reason = "dropped";
            while (true)
            {
                var frame = await ReadFrameAsync(reader, cancellationToken).ConfigureAwait(false);
                if (frame is null)
                {
                    break;
                }

                var (type, id, data) = frame.Value;
                long? frameId = long.TryParse(id, NumberStyles.Integer, CultureInfo.InvariantCulture, out var parsed) ? parsed : null;
                if (type == "error")
                {
                    // The node closed the stream; its id (or lastRevision) is where to resume.
                    var closed = TryDeserialize(data, ClientJsonContext.Default.WatchClosed);
                    resume = frameId ?? closed?.LastRevision ?? resume;
                    reason = closed?.Reason ?? "closed";
                    break;
                }

                if (type == "progress")
                {
                    var progress = TryDeserialize(data, ClientJsonContext.Default.WatchProgress);
                    var revision = frameId ?? progress?.Revision;
                    if (revision is { } r)
                    {
                        resume = r;
                        if (filter is not null && r >= filter.MaxRevision)
                        {
                            filter = null;
                        }

                        yield return new WatchBatch([new WatchEvent(WatchEventType.Progress, "", r)], r, progress?.StreamId, null, opened.Node);
                    }

                    continue;
                }

                if (ParseChange(type, data) is not { } change)
                {
                    continue;
                }

                // Never yield a change at or below the resume point, nor one a resync listing already reflected.
                if ((resume is null || change.Revision > resume) && filter?.AlreadyListed(change.Key, change.Revision) != true)
                {
                    pending.Add(change);
                }

                if (frameId is { } complete)
                {
                    // The revision is complete on this stream: hand out its events.
                    if (pending.Count > 0)
                    {
                        yield return new WatchBatch(pending.ToArray(), complete, null, null);
                    }

                    pending.Clear();
                    resume = complete;
                    if (filter is not null && complete >= filter.MaxRevision)
                    {
                        filter = null;
                    }
                }
            }

            // Events of an incomplete revision are dropped: the resume point is before them.
            AspireCacheClientTelemetry.WatchReconnects.Add(1, new KeyValuePair<string, object?>("reason", reason));
        }
    }

    /// <summary>
    /// <c>POST /cache/watch/{streamId}/progress</c>: asks the node serving the stream for a fresh
    /// leader-confirmed progress event. Returns the revision it will report, or null when the stream
    /// is gone or the request failed (the stream's periodic progress remains).
    /// </summary>
    internal async Task<long?> RequestWatchProgressAsync(string streamId, Uri? node, CancellationToken cancellationToken, bool whenBehind = false)
    {
        // whenBehind: the node sends the event only if the stream has not already sent that revision.
        var path = CachePaths.WatchProgress(streamId) + (whenBehind ? "?whenBehind=true" : "");
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(_options.Deadline);
        try
        {
            using var request = Prepare(new HttpRequestMessage(HttpMethod.Post, path), leader: node, idempotencyKey: null);
            using var response = await _http().SendAsync(request, deadline.Token).ConfigureAwait(false);
            if (!response.IsSuccessStatusCode)
            {
                return null;
            }

            var answer = await response.Content.ReadFromJsonAsync(ClientJsonContext.Default.ProgressResponse, deadline.Token).ConfigureAwait(false);
            return answer?.Revision;
        }
        catch (Exception ex) when (ex is HttpRequestException or JsonException || (ex is OperationCanceledException && !cancellationToken.IsCancellationRequested))
        {
            return null;
        }
    }

    private static string WatchPath(WatchRequest request)
    {
        var path = new StringBuilder(CachePaths.Watch);
        var separator = '?';
        foreach (var prefix in request.Prefixes)
        {
            path.Append(separator).Append("prefix=").Append(Uri.EscapeDataString(prefix));
            separator = '&';
        }

        foreach (var key in request.Keys)
        {
            path.Append(separator).Append("key=").Append(Uri.EscapeDataString(key));
            separator = '&';
        }

        if (!request.Values)
        {
            path.Append("&values=false");
        }

        if (request.ProgressInterval is { } interval)
        {
            path.Append("&progressIntervalMs=").Append(((long)interval.TotalMilliseconds).ToString(CultureInfo.InvariantCulture));
        }

        return path.ToString();
    }

    private readonly record struct Opened(HttpResponseMessage? Response, bool Gone, Exception? Error, Exception? Fatal, Uri? Node = null);

    private async Task<Opened> OpenWatchAsync(string path, long? resume, CancellationToken token)
    {
        var node = _direct?.Target(write: false);
        var opened = await OpenWatchOnAsync(path, resume, node, token).ConfigureAwait(false);
        if (node is not null && opened.Response is null && !opened.Gone && opened.Error is not RateLimitedException)
        {
            _direct!.Failed(node);
        }

        return opened with { Node = node };
    }

    private async Task<Opened> OpenWatchOnAsync(string path, long? resume, Uri? node, CancellationToken token)
    {
        var request = Prepare(new HttpRequestMessage(HttpMethod.Get, path), leader: node, idempotencyKey: null);
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/event-stream"));
        if (resume is { } after)
        {
            request.Headers.TryAddWithoutValidation(CacheHeaders.LastEventId, after.ToString(CultureInfo.InvariantCulture));
        }

        HttpResponseMessage response;
        try
        {
            using var headersDeadline = CancellationTokenSource.CreateLinkedTokenSource(token);
            headersDeadline.CancelAfter(_options.Deadline);
            response = await _http().SendAsync(request, HttpCompletionOption.ResponseHeadersRead, headersDeadline.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!token.IsCancellationRequested)
        {
            return new Opened(null, false, new UnavailableException(0, null, "The watch could not be opened in time", null, null), null);
        }
        catch (HttpRequestException ex)
        {
            return new Opened(null, false, new UnavailableException(0, null, "The watch could not be opened", ex.Message, null, ex), null);
        }
        finally
        {
            request.Dispose();
        }

        if (response.IsSuccessStatusCode)
        {
            return new Opened(response, false, null, null);
        }

        using (response)
        {
            var problem = await Problem.ReadAsync(response, token).ConfigureAwait(false);
            var error = ToException(response, problem, null);
            return (int)response.StatusCode switch
            {
                410 => new Opened(null, true, error, null),
                429 or 502 or 503 or 504 => new Opened(null, false, error, null),
                _ => new Opened(null, false, error, error),
            };
        }
    }

    /// <summary>The next SSE event (comments skipped), or null when the stream ended or broke.</summary>
    private static async Task<(string Type, string? Id, string Data)?> ReadFrameAsync(StreamReader reader, CancellationToken token)
    {
        string? type = null, id = null;
        StringBuilder? data = null;
        try
        {
            while (true)
            {
                var line = await reader.ReadLineAsync(token).ConfigureAwait(false);
                if (line is null)
                {
                    return null;
                }

                if (line.Length == 0)
                {
                    if (data is null && type is null && id is null)
                    {
                        continue;
                    }

                    return (type ?? "message", id, data?.ToString() ?? "");
                }

                if (line[0] == ':')
                {
                    continue;
                }

                var colon = line.IndexOf(':');
                var field = colon < 0 ? line : line[..colon];
                var value = colon < 0 ? "" : line[(colon + 1)..];
                if (value.StartsWith(' '))
                {
                    value = value[1..];
                }

                switch (field)
                {
                    case "event": type = value; break;
                    case "id": id = value; break;
                    case "data":
                        if (data is null)
                        {
                            data = new StringBuilder(value);
                        }
                        else
                        {
                            data.Append('\n').Append(value);
                        }

                        break;
                }
            }
        }
        catch (Exception ex) when (ex is IOException or HttpRequestException || (ex is OperationCanceledException && !token.IsCancellationRequested))
        {
            // The connection broke (node stopped, proxy cut it): the caller reconnects.
            return null;
        }
    }

    private static WatchEvent? ParseChange(string type, string data)
    {
        var kind = type switch
        {
            "put" => WatchEventType.Put,
            "delete" => WatchEventType.Delete,
            "expire" => WatchEventType.Expire,
            "evict" => WatchEventType.Evict,
            _ => (WatchEventType?)null,
        };
        if (kind is null || TryDeserialize(data, ClientJsonContext.Default.ChangeEvent) is not { } change)
        {
            return null;
        }

        return new WatchEvent(
            kind.Value,
            change.Key,
            change.Revision,
            change.Value is null ? null : Convert.FromBase64String(change.Value),
            change.ExpiresAt)
        {
            Writer = change.Writer,
        };
    }

    private static T? TryDeserialize<T>(string data, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> info)
        where T : class
    {
        try
        {
            return JsonSerializer.Deserialize(data, info);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>
    /// A relisting after a 410: yields the marker, the state, and a progress; then <see cref="Revision"/>
    /// (where to watch from) and <see cref="Filter"/> (what the listing already reflected) are set.
    /// </summary>
    private sealed class Resync(AspireCacheClient client, WatchRequest request)
    {
        public long Revision { get; private set; }

        public ResyncFilter? Filter { get; private set; }

        /// <summary>The highest revision of the listing's pages (set before the closing progress is yielded).</summary>
        public long ListedThrough { get; private set; }

        public async IAsyncEnumerable<WatchEvent> RunAsync([EnumeratorCancellation] CancellationToken token)
        {
            var segments = new List<ResyncFilter.Segment>();
            long? start = null;
            var read = new ReadOptions { Consistency = Consistency.Linearizable };
            var (prefixes, keys) = ResyncFilter.ListingScope(request.Prefixes, request.Keys);
            foreach (var prefix in prefixes)
            {
                string? after = null;
                do
                {
                    var page = await client.ListPageAsync(prefix, after, 1000, request.Values, read, token).ConfigureAwait(false);
                    if (start is null)
                    {
                        start = page.Revision;
                        yield return new WatchEvent(WatchEventType.Resync, "", page.Revision);
                    }

                    start = Math.Min(start.Value, page.Revision);
                    segments.Add(new ResyncFilter.Segment(prefix, after, page.Next, page.Revision));
                    foreach (var item in page.Items)
                    {
                        yield return ToPut(item); // each key under one filter only (ListingScope): listed once
                    }

                    after = page.Next;
                }
                while (after is not null);
            }

            foreach (var key in keys)
            {
                // The key sorts first among the keys it prefixes: a one-key page answers for it.
                var page = await client.ListPageAsync(key, null, 1, request.Values, read, token).ConfigureAwait(false);
                if (start is null)
                {
                    start = page.Revision;
                    yield return new WatchEvent(WatchEventType.Resync, "", page.Revision);
                }

                start = Math.Min(start.Value, page.Revision);
                segments.Add(new ResyncFilter.Segment(key, null, key, page.Revision));
                if (page.Items is [var item, ..] && item.Key == key)
                {
                    yield return ToPut(item);
                }
            }

            Revision = start!.Value;
            ListedThrough = segments.Max(s => s.Revision);
            Filter = segments.Any(s => s.Revision > Revision) ? new ResyncFilter(segments) : null;
            yield return new WatchEvent(WatchEventType.Progress, "", Revision);
        }

        private static WatchEvent ToPut(ListItem item) =>
            new(WatchEventType.Put, item.Key, item.Version, item.Value is null ? null : Convert.FromBase64String(item.Value), item.ExpiresAt);
    }
}

/// <summary>
/// The events of one revision as <see cref="AspireCacheClient.WatchBatchesAsync"/> hands them out.
/// </summary>
/// <param name="Events">The events (all of one revision; one progress event; or one event of a resync listing).</param>
/// <param name="Revision">Every change up to this revision was delivered (for a resync's puts: the key's version).</param>
/// <param name="StreamId">For a progress event from the server: the stream that sent it (for on-demand progress).</param>
/// <param name="ListedThrough">For the progress closing a resync listing: the highest revision of its pages.</param>
/// <param name="Node">Direct mode: the node serving the stream (progress requests go there); null through the router.</param>
internal sealed record WatchBatch(IReadOnlyList<WatchEvent> Events, long Revision, string? StreamId, long? ListedThrough, Uri? Node = null);

/// <summary>
/// After a resync listed at several revisions (one per page), which changes after the watch's start
/// point a page already reflected: a change to a key in a page's range (after, next] at or below
/// that page's revision.
/// </summary>
internal sealed class ResyncFilter(IReadOnlyList<ResyncFilter.Segment> segments)
{
    public readonly record struct Segment(string Prefix, string? After, string? Through, long Revision);

    public long MaxRevision { get; } = segments.Max(s => s.Revision);

    /// <summary>
    /// What a resync lists, each key under one filter only: a prefix inside another one, or a key under a prefix,
    /// is listed by the wider filter alone. Listed twice, at two revisions, a key was handed out from the first
    /// page and then taken as listed through the second page's later revision, so a change to it between the two
    /// was dropped without a gap (found by review, session 32). The stream itself still watches every filter.
    /// </summary>
    internal static (List<string> Prefixes, List<string> Keys) ListingScope(IEnumerable<string> prefixes, IEnumerable<string> keys)
    {
        var distinct = prefixes.Distinct(StringComparer.Ordinal).ToList();
        var widest = distinct.Where(p => !distinct.Any(q => q.Length < p.Length && p.StartsWith(q, StringComparison.Ordinal))).ToList();
        var alone = keys.Distinct(StringComparer.Ordinal).Where(k => !widest.Any(p => k.StartsWith(p, StringComparison.Ordinal))).ToList();
        return (widest, alone);
    }

    public bool AlreadyListed(string key, long revision)
    {
        foreach (var s in segments)
        {
            if (revision <= s.Revision
                && key.StartsWith(s.Prefix, StringComparison.Ordinal)
                && (s.After is null || string.CompareOrdinal(key, s.After) > 0)
                && (s.Through is null || string.CompareOrdinal(key, s.Through) <= 0))
            {
                return true;
            }
        }

        return false;
    }
}
