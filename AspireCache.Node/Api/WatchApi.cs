using System.Buffers;
using System.Diagnostics;
using System.Globalization;
using System.IO.Pipelines;
using System.Text;
using System.Text.Json;
using AspireCache.Node.Auth;
using AspireCache.Node.Watch;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using AspireCache.Node.Api.OpenApi;
using JsonSchemaType = Microsoft.OpenApi.JsonSchemaType;

namespace AspireCache.Node.Api;

/// <summary>
/// <c>GET /cache/watch</c>: a Server-Sent Events stream of changes, and
/// <c>POST /cache/watch/{streamId}/progress</c>: an on-demand, leader-confirmed progress event.
/// Frames are pre-encoded once per event (<see cref="WatchEvent"/>) and written straight to the
/// response's pipe, several per flush.
/// </summary>
public static class WatchApi
{
    public const string StreamIdHeader = CacheHeaders.WatchId;
    public const string LastEventIdHeader = CacheHeaders.LastEventId;

    public static IEndpointRouteBuilder MapWatchApi(this IEndpointRouteBuilder app)
    {
        app.MapGet("/cache/watch", WatchAsync).RequireScope(Scope.Read, KeyCheck.WatchFilters).Documented(
            "Watch", NodeApiTags.Watch, "Follow changes (Server-Sent Events)",
            "A `text/event-stream` of the changes to the keys under the given prefixes and to the given keys, in revision order, from `afterRevision` (or `Last-Event-ID`) or, without one, from a leader-confirmed revision (no change acknowledged before the request is sent as new, none after it is missed). Events: `put`, `delete`, `expire`, `evict` (data: `ChangeEvent`); `progress` (data: `WatchProgress`: every change up to that revision was sent; also first, and when idle); a final `error` (data: `WatchClosed`: why the node closed the stream and the revision to resume from). Each revision's last event carries `id: <revision>`: reconnect with `Last-Event-ID` to resume without gaps or repeats.",
            doc => doc
                .Query("prefix", "Watch the keys starting with this (repeatable; empty: every key). At least one `prefix` or `key`.", repeatable: true)
                .Query("key", "Watch this exact key (repeatable).", repeatable: true)
                .Query("values", "Include the values (base64) in `put` events. Default `true`.", JsonSchemaType.Boolean)
                .Query("afterRevision", "Resume: send the changes after this revision (a list's `revision`, or the last `id:` seen).", JsonSchemaType.Integer, format: "int64")
                .Query("progressIntervalMs", "Send a leader-confirmed `progress` event after this long without events (50 to 3600000; default `Watch:ProgressInterval`).", JsonSchemaType.Integer)
                .Header(LastEventIdHeader, "Resume after this revision (what an EventSource sends on reconnect); takes precedence over `afterRevision`.")
                .Response(StatusCodes.Status200OK, "The stream: `event: put|delete|expire|evict|progress|error`, `data: <JSON>`, `id: <revision>` frames, until the client or the node closes it.", "text/event-stream")
                .ResponseHeader(StatusCodes.Status200OK, StreamIdHeader, "The stream's id, for `POST /cache/watch/{streamId}/progress` (it names the serving node).")
                .Problem(StatusCodes.Status400BadRequest, "No filter, too many filters (`Watch:MaxFiltersPerStream`), an invalid prefix or key, a malformed parameter, or a resume point above the cluster's revision.", "invalid-request", "revision-ahead")
                .Problem(StatusCodes.Status410Gone, "The resume point is older than this node's history: list the keys again and watch from the list's revision (the router first tries the other nodes).", "revision-compacted")
                .Problem(StatusCodes.Status429TooManyRequests, "The credential has its most streams open on this node.", "too-many-watchers-for-credential")
                .ResponseHeader(StatusCodes.Status429TooManyRequests, "Retry-After", "Seconds to wait before retrying.", JsonSchemaType.Integer, "int32")
                .Problem(StatusCodes.Status503ServiceUnavailable, "The node serves as many streams as it may, or is stopping.", "too-many-watchers", "node-stopping")
                .EventData(typeof(ChangeEvent), typeof(WatchProgress), typeof(WatchClosed))
                .ClusterBacked(ClusterErrors.Read, "confirming the start point"));
        app.MapPost("/cache/watch/{streamId}/progress", ProgressAsync).RequireScope(Scope.Read).Documented(
            "RequestWatchProgress", NodeApiTags.Watch, "Ask a watch stream for a progress event",
            "Obtains a fresh leader-confirmed revision and has the stream send `event: progress` with it once this node has sent every change up to it: the answer names that revision. Send it to the node that serves the stream (the router routes it by the stream id).",
            doc => doc
                .Path("streamId", "The stream's id (`X-AspireCache-Watch-Id`).")
                .Query("whenBehind", "`true`: send the event only if the stream has not already sent that revision (saves a frame per probe).", JsonSchemaType.Boolean)
                .Response(StatusCodes.Status202Accepted, "The stream will send `event: progress` with `revision`.")
                .Problem(StatusCodes.Status400BadRequest, "A malformed `whenBehind` (the framework's own binding problem).", ProblemCatalog.FrameworkBadRequest)
                .Problem(StatusCodes.Status404NotFound, "The stream is not open on this node.", "stream-not-found")
                .ClusterBacked(ClusterErrors.Read));
        return app;
    }

    public static async Task<IResult> WatchAsync(
        HttpContext http,
        WatchService service,
        WatchTelemetry telemetry,
        IOptions<CacheLimitsOptions> limits,
        CancellationToken token)
    {
        var hub = service.Hub;
        var options = hub.Options;
        if (!Parse(http.Request, limits.Value.MaxKeyBytes, options, out var request, out var invalid))
        {
            return Problems.BadRequest("Invalid watch request", invalid!);
        }

        var (refused, watcher) = await StartAsync(http, request!, service, telemetry, token);
        if (refused is not null)
        {
            return refused;
        }

        try
        {
            await StreamAsync(http, service, telemetry, watcher!, token);
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested)
        {
            // The consumer went away.
        }
        catch (IOException)
        {
            // The connection broke mid-write.
        }
        finally
        {
            hub.Unregister(watcher!);
        }

        return Results.Empty;
    }

    /// <summary>
    /// The start point, traced as <c>cache.watch.start</c> (the stream itself is not a span: it may
    /// last hours). Without a resume point: a read index, so that a change acknowledged before this
    /// request is never delivered as new and none after it is missed.
    /// </summary>
    private static async Task<(IResult? Refused, Watcher? Watcher)> StartAsync(HttpContext http, WatchRequest request, WatchService service, WatchTelemetry telemetry, CancellationToken token)
    {
        var hub = service.Hub;
        var options = hub.Options;
        using var activity = Diagnostics.NodeTelemetry.Source.StartActivity("cache.watch.start");
        activity?.SetTag("watch.filters", request.Prefixes.Length + request.Keys.Length);
        activity?.SetTag("watch.after_revision", request.AfterRevision);
        long after;
        if (request.AfterRevision is { } resume)
        {
            after = resume;
            if (resume > hub.HeadRevision)
            {
                // Revisions come only from committed entries: after a read index this node has
                // applied every one of them. One still ahead was never produced by this cluster.
                var current = await service.ConfirmRevisionAsync(token);
                if (resume > current)
                {
                    telemetry.Refused("future");
                    return (Problems.Create(StatusCodes.Status400BadRequest, "revision-ahead", "The resume point is ahead of the cluster", $"afterRevision {resume} is above the cluster's current revision {current}.", new Dictionary<string, object?> { ["currentRevision"] = current }), null);
                }
            }
        }
        else
        {
            after = await service.ConfirmRevisionAsync(token);
        }

        var credential = ClientAuth.WriterOf(http); // the credential's name; null when authentication is off
        var outcome = hub.Register(request.Prefixes, request.Keys, request.Values, after, out var watcher, request.ProgressInterval, credential);
        activity?.SetTag("watch.outcome", outcome.ToString());
        activity?.SetTag("watch.start_revision", after);
        activity?.SetTag("watch.stream_id", watcher?.Id);
        switch (outcome)
        {
            case RegisterOutcome.Gone:
                telemetry.Refused("gone");
                return (Problems.Create(
                    StatusCodes.Status410Gone,
                    "revision-compacted",
                    "The resume point is no longer in this node's history",
                    $"Changes after revision {after} are no longer kept here (the oldest accepted afterRevision is {hub.OldestAcceptedRevision}). List the keys again and watch from the list's revision.",
                    new Dictionary<string, object?> { ["oldestRevision"] = hub.OldestAcceptedRevision, ["currentRevision"] = hub.HeadRevision }), null);
            case RegisterOutcome.Full:
                telemetry.Refused("full");
                http.Response.Headers.RetryAfter = "1";
                return (Problems.Create(StatusCodes.Status503ServiceUnavailable, "too-many-watchers", "This node serves as many watch streams as it may", $"The node's limit is {options.MaxWatchers} streams. Retry later or on another node."), null);
            case RegisterOutcome.CredentialFull:
                // Through the router too: it forwards its caller's Authorization, so the stream is the caller's.
                telemetry.RefusedForCredential();
                http.Response.Headers.RetryAfter = "1";
                return (Problems.Create(
                    StatusCodes.Status429TooManyRequests,
                    "too-many-watchers-for-credential",
                    "This credential has as many watch streams on this node as it may",
                    credential is null
                        ? $"Without authentication all streams share one limit of {options.MaxWatchersPerCredential} streams per node (Watch:MaxWatchersPerCredential). Close a stream or retry later."
                        : $"Credential '{credential}' has {options.MaxWatchersPerCredential} streams open on this node (Watch:MaxWatchersPerCredential). Close one of them or retry later."), null);
            case RegisterOutcome.Stopping:
                telemetry.Refused("stopping");
                http.Response.Headers.RetryAfter = "1";
                http.Response.Headers.Connection = "close";
                return (Problems.Create(StatusCodes.Status503ServiceUnavailable, "node-stopping", "This node is stopping", "Watch again on another node (or on this one once it is back): resume with Last-Event-ID."), null);
        }

        return (null, watcher);
    }

    /// <summary>
    /// Obtains a fresh read index, and has the stream send <c>event: progress</c> once this node has
    /// applied it: the answer names that revision (202). 404 if the stream is not on this node.
    /// </summary>
    /// <remarks>
    /// <c>?whenBehind=true</c>: send the event only if the stream has not already sent that revision
    /// (its last <c>id:</c> or progress is at or above it): a near cache that only needs to know when it
    /// has reached the revision saves a frame per probe.
    /// </remarks>
    public static async Task<Results<Accepted<ProgressResponse>, ProblemHttpResult>> ProgressAsync(string streamId, bool? whenBehind, WatchService service, WatchTelemetry telemetry, CancellationToken token)
    {
        if (!service.Hub.TryGet(streamId, out var watcher))
        {
            return Problems.Create(StatusCodes.Status404NotFound, "stream-not-found", "No such watch stream on this node", $"Stream '{streamId}' is not open on this node (it closed, or another node serves it).");
        }

        telemetry.ProgressRequested();
        using var activity = Diagnostics.NodeTelemetry.Source.StartActivity("cache.watch.progress");
        activity?.SetTag("watch.stream_id", streamId);
        var revision = await service.ConfirmRevisionAsync(token);
        activity?.SetTag("watch.revision", revision);
        if (whenBehind != true || revision > watcher.AnnouncedPosition)
        {
            watcher.RequestProgress(revision);
        }

        return TypedResults.Accepted((string?)null, new ProgressResponse(streamId, revision));
    }

    private static async Task StreamAsync(HttpContext http, WatchService service, WatchTelemetry telemetry, Watcher watcher, CancellationToken token)
    {
        var hub = service.Hub;
        var response = http.Response;
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = "text/event-stream";
        response.Headers.CacheControl = "no-cache";
        response.Headers["X-Accel-Buffering"] = "no";
        response.Headers[StreamIdHeader] = watcher.Id;
        http.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();
        var output = response.BodyWriter;

        // First event: where the stream starts (leader-confirmed when no resume point was given).
        WriteProgress(output, watcher.Position, watcher.Id);
        watcher.AnnouncedPosition = watcher.Position;
        telemetry.ProgressSent();
        await output.FlushAsync(token);

        watcher.LastWrite = Stopwatch.GetTimestamp();
        using var aborted = token.Register(static w => ((Watcher)w!).Wake(), watcher);
        Task<bool>? periodic = null;
        var periodicFailed = false;
        while (true)
        {
            token.ThrowIfCancellationRequested();
            var sent = Drain(output, watcher, out var oldest);
            var progress = watcher.TakeProgressRequest();
            if (progress > 0)
            {
                await hub.WaitDispatchedAsync(progress, token);
                sent += Drain(output, watcher, out var later);
                oldest = oldest == 0 ? later : oldest;
                if (progress >= watcher.Position && watcher.Closed is null)
                {
                    watcher.Position = progress;
                    WriteProgress(output, progress, watcher.Id);
                    watcher.AnnouncedPosition = progress;
                    telemetry.ProgressSent();
                }
            }

            if (watcher.Closed is { } reason)
            {
                await CloseAsync(http, output, watcher, reason, hub.Options);
                return;
            }

            if (sent > 0 || progress > 0)
            {
                if (!await FlushAsync(output, watcher, token))
                {
                    continue; // closed while the consumer was not reading: the loop sends the error
                }

                if (oldest != 0)
                {
                    telemetry.Lag(Stopwatch.GetElapsedTime(oldest).TotalMilliseconds);
                }

                telemetry.EventsSent(sent);
                watcher.LastWrite = Stopwatch.GetTimestamp();
            }

            if (!watcher.TakeIdle())
            {
                await watcher.WaitAsync(); // events, progress, close, idleness, or the request aborted: look again
                continue;
            }

            // Nothing sent for a whole interval: ask the leader to vouch for a revision (shared
            // round, in the background). A previous request still unanswered means this node is cut
            // off from the leader: no progress then, only a comment that keeps proxies from timing out.
            if (periodic is { IsCompleted: true })
            {
                periodicFailed = !periodic.Result;
                periodic = null;
            }

            if (periodic is null && !periodicFailed)
            {
                periodic = RequestPeriodicProgressAsync(service, watcher, token);
            }
            else
            {
                periodicFailed = false;
                output.Write(": no leader-confirmed progress\n\n"u8);
                if (!await FlushAsync(output, watcher, token))
                {
                    continue;
                }
            }

            watcher.LastWrite = Stopwatch.GetTimestamp();
        }
    }

    /// <summary>Asks for a leader-confirmed revision for the stream; <c>false</c> when none could be had (no leader, quorum lost).</summary>
    private static async Task<bool> RequestPeriodicProgressAsync(WatchService service, Watcher watcher, CancellationToken token)
    {
        try
        {
            watcher.RequestProgress(await service.ConfirmRevisionAsync(token));
            return true;
        }
        catch (Exception ex) when (ex is Raft.ClusterUnavailableException or OperationCanceledException or TimeoutException)
        {
            return false;
        }
    }

    /// <summary>Writes every queued event above the stream's position; only the last event of a revision (that this stream sends) carries <c>id:</c>.</summary>
    private static int Drain(PipeWriter output, Watcher watcher, out long oldestTimestamp)
    {
        var sent = 0;
        oldestTimestamp = 0;
        while (watcher.TryDequeue(out var chunk))
        {
            WatchEvent? pending = null;
            foreach (var e in chunk.Events)
            {
                if (e.Revision <= watcher.Position || !watcher.Matches(e.Key))
                {
                    continue;
                }

                if (pending is not null)
                {
                    Terminate(output, pending, idLine: pending.Revision != e.Revision);
                }

                output.Write(e.Frame(watcher.Values));
                pending = e;
                sent++;
            }

            if (pending is not null)
            {
                Terminate(output, pending, idLine: true);
                watcher.AnnouncedPosition = pending.Revision;
                oldestTimestamp = oldestTimestamp == 0 ? chunk.AppliedTimestamp : oldestTimestamp;
            }

            watcher.Position = Math.Max(watcher.Position, chunk.LastRevision);
        }

        return sent;
    }

    private static void Terminate(PipeWriter output, WatchEvent e, bool idLine)
    {
        if (idLine)
        {
            WatchEvent.WriteIdTerminator(output, e.Revision);
        }
        else
        {
            output.Write("\n"u8);
        }
    }

    private static void WriteProgress(PipeWriter output, long revision, string streamId)
    {
        output.Write("event: progress\ndata: {\"revision\":"u8);
        WriteNumber(output, revision);
        output.Write(",\"streamId\":\""u8);
        output.Write(Encoding.UTF8.GetBytes(streamId));
        output.Write("\"}\n"u8);
        WatchEvent.WriteIdTerminator(output, revision);
    }

    private static void WriteNumber(PipeWriter output, long value)
    {
        var span = output.GetSpan(20);
        value.TryFormat(span, out var written, provider: CultureInfo.InvariantCulture);
        output.Advance(written);
    }

    /// <summary>Flushes; <c>false</c> when the node closed the stream while the flush waited for the consumer.</summary>
    private static async Task<bool> FlushAsync(PipeWriter output, Watcher watcher, CancellationToken token)
    {
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(token, watcher.ClosedToken);
        try
        {
            await output.FlushAsync(linked.Token);
            return true;
        }
        catch (OperationCanceledException) when (!token.IsCancellationRequested && watcher.Closed is not null)
        {
            return false;
        }
    }

    /// <summary>The final <c>event: error</c>: why, and the revision to resume from (also as <c>id:</c>).</summary>
    private static async Task CloseAsync(HttpContext http, PipeWriter output, Watcher watcher, CloseReason reason, WatchOptions options)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        buffer.Write("event: error\ndata: "u8);
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("reason", CloseReasons.Name(reason));
            json.WriteNumber("lastRevision", watcher.Position);
            json.WriteString("detail", CloseReasons.Detail(reason, watcher.Position, options));
            json.WriteEndObject();
        }

        buffer.Write("\n"u8);
        WatchEvent.WriteIdTerminator(buffer, watcher.Position);
        output.Write(buffer.WrittenSpan);
        using var timeout = new CancellationTokenSource(options.CloseTimeout);
        try
        {
            await output.FlushAsync(timeout.Token);
            await output.CompleteAsync();
        }
        catch (OperationCanceledException)
        {
            http.Abort(); // the consumer does not read: cut the connection
        }
    }

    internal sealed record WatchRequest(string[] Prefixes, string[] Keys, bool Values, long? AfterRevision, TimeSpan? ProgressInterval);

    internal static bool Parse(HttpRequest request, int maxKeyBytes, WatchOptions options, out WatchRequest? parsed, out string? error)
    {
        parsed = null;
        var query = request.Query;
        var prefixes = query["prefix"].Select(p => p ?? "").Distinct(StringComparer.Ordinal).ToArray();
        var keys = query["key"].Select(k => k ?? "").Distinct(StringComparer.Ordinal).ToArray();
        if (prefixes.Length + keys.Length == 0)
        {
            error = "Give at least one 'prefix' (may be empty: every key) or 'key'.";
            return false;
        }

        if (prefixes.Length + keys.Length > options.MaxFiltersPerStream)
        {
            error = $"At most {options.MaxFiltersPerStream} 'prefix' and 'key' filters per stream.";
            return false;
        }

        foreach (var prefix in prefixes)
        {
            if (prefix.Length > 0 && KeyValidator.Validate(prefix, maxKeyBytes) is { } invalid)
            {
                error = $"Invalid prefix: {invalid}";
                return false;
            }
        }

        foreach (var key in keys)
        {
            if (KeyValidator.Validate(key, maxKeyBytes) is { } invalid)
            {
                error = $"Invalid key: {invalid}";
                return false;
            }
        }

        var values = true;
        if (query["values"].Count > 0 && !bool.TryParse(query["values"], out values))
        {
            error = "'values' must be true or false.";
            return false;
        }

        long? after = null;
        var lastEventId = request.Headers[LastEventIdHeader];
        var resume = lastEventId.Count > 0 ? lastEventId.ToString() : query["afterRevision"].Count > 0 ? query["afterRevision"].ToString() : null;
        if (resume is not null)
        {
            if (!long.TryParse(resume, NumberStyles.None, CultureInfo.InvariantCulture, out var n))
            {
                error = lastEventId.Count > 0 ? "Last-Event-ID must be a revision (a non-negative integer)." : "'afterRevision' must be a non-negative integer.";
                return false;
            }

            after = n;
        }

        TimeSpan? interval = null;
        if (query["progressIntervalMs"].Count > 0)
        {
            if (!int.TryParse(query["progressIntervalMs"], NumberStyles.None, CultureInfo.InvariantCulture, out var ms) || ms is < 50 or > 3_600_000)
            {
                error = "'progressIntervalMs' must be between 50 and 3600000.";
                return false;
            }

            interval = TimeSpan.FromMilliseconds(ms);
        }

        parsed = new WatchRequest(prefixes, keys, values, after, interval);
        error = null;
        return true;
    }
}
