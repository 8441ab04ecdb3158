using System.Globalization;
using System.Text.Json;
using AspireCache.Node.Diagnostics;
using AspireCache.Node.Raft;
using AspireCache.Node.StateMachine;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;

namespace AspireCache.Node.Api;

/// <summary>
/// The key-value HTTP API. Handlers parse and validate (<see cref="RequestParsing"/>), hand commands
/// to the write path (<see cref="WriteCoordinator"/>) or run the read path
/// (<see cref="ReadIndexService"/>), and map results to HTTP. Every limit and every header is
/// checked before anything is proposed: a rejected request changes nothing.
/// </summary>
public static class CacheApi
{
    public const string ConsistencyHeader = "X-AspireCache-Consistency";
    public const string AppliedIndexHeader = "X-AspireCache-Applied-Index";
    public const string CommitIndexHeader = "X-AspireCache-Commit-Index";
    public const string ReadIndexHeader = "X-AspireCache-Read-Index";
    public const string TtlHeader = "X-AspireCache-Ttl-Ms";
    public const string IdempotencyKeyHeader = "Idempotency-Key";
    public const string ReplayedHeader = "Idempotent-Replayed";

    public static IEndpointRouteBuilder MapCacheApi(this IEndpointRouteBuilder app)
    {
        var cache = app.MapGroup("/cache");
        cache.MapGet("/", ListAsync);
        cache.MapGet("/hot", HotKeys);
        cache.MapPost("/batch", BatchAsync);
        cache.MapGet("/{**key}", GetAsync);
        cache.MapPut("/{**key}", PutAsync);
        cache.MapDelete("/{**key}", DeleteAsync);
        return app;
    }

    public static async Task<Results<FileContentHttpResult, StatusCodeHttpResult, ProblemHttpResult>> GetAsync(
        string key,
        HttpContext http,
        ReadIndexService readIndex,
        CacheStateMachine stateMachine,
        ClusterView cluster,
        NodeTelemetry telemetry,
        TimeProvider clock,
        Eviction.AccessTracker access,
        HotKeyTracker hotKeys,
        IOptions<CacheLimitsOptions> limits,
        CancellationToken token)
    {
        if (KeyValidator.Validate(key, limits.Value.MaxKeyBytes) is { } invalid)
        {
            return Problems.InvalidKey(invalid);
        }

        if (!RequestParsing.TryGetConsistent(http.Request, out var consistent, out var badConsistency))
        {
            return badConsistency;
        }

        using var activity = NodeTelemetry.Source.StartActivity("cache.read");
        activity?.SetTag("cache.consistency", consistent ? "linearizable" : "stale");
        await EstablishConsistencyAsync(http, consistent, readIndex, stateMachine, cluster, telemetry, token);

        // An expired value is never returned, even before the leader's delete reaches this node.
        var now = clock.GetUtcNow().ToUnixTimeMilliseconds();
        if (!stateMachine.State.TryGet(key, out var entry) || entry.IsExpiredAt(now))
        {
            activity?.SetTag("cache.hit", false);
            return Problems.KeyNotFound(key);
        }

        activity?.SetTag("cache.hit", true);
        activity?.SetTag("cache.version", entry.Version);
        access.Touch(key, now);
        hotKeys.Record(key);
        var headers = http.Response.Headers;
        var etag = ETag(entry.Version);
        headers.ETag = etag;
        if (entry.ExpiresUnixMs != 0)
        {
            headers[TtlHeader] = (entry.ExpiresUnixMs - now).ToString(CultureInfo.InvariantCulture);
            headers.Expires = DateTimeOffset.FromUnixTimeMilliseconds(entry.ExpiresUnixMs).ToString("R", CultureInfo.InvariantCulture);
        }

        // Conditional GET: a client polling its configuration pays for the value only when it changed.
        foreach (var candidate in http.Request.Headers.IfNoneMatch)
        {
            if (candidate == etag || candidate == "*")
            {
                return TypedResults.StatusCode(StatusCodes.Status304NotModified);
            }
        }

        // Values are immutable once applied: serve the stored bytes without copying.
        var bytes = System.Runtime.InteropServices.MemoryMarshal.TryGetArray(entry.Value, out var segment) && segment.Offset == 0 && segment.Count == segment.Array!.Length
            ? segment.Array
            : entry.Value.ToArray();
        return TypedResults.File(
            bytes,
            "application/octet-stream",
            lastModified: DateTimeOffset.FromUnixTimeMilliseconds(entry.UpdatedUnixMs));
    }

    /// <summary>
    /// <c>GET /cache/hot?count=10</c>: this node's hottest keys by read rate (a decaying count-min
    /// sketch with a top-K; estimates, per node). The key name <c>hot</c> is therefore reserved.
    /// </summary>
    public static Ok<HotKeysResponse> HotKeys(HttpContext http, HotKeyTracker tracker, ClusterView cluster)
    {
        var count = int.TryParse(http.Request.Query["count"], NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? Math.Clamp(n, 1, 100) : 10;
        var top = tracker.Top(count);
        return TypedResults.Ok(new HotKeysResponse(cluster.NodeId, tracker.HalfLife.TotalSeconds, [.. top.Select(h => new HotKeyItem(h.Key, h.EstimatedCount))]));
    }

    /// <summary><c>GET /cache?prefix=app/&amp;after=app/x&amp;limit=100&amp;values=true&amp;consistent=true</c>: one page of keys in order.</summary>
    public static async Task<Results<Ok<ListResponse>, ProblemHttpResult>> ListAsync(
        HttpContext http,
        ReadIndexService readIndex,
        CacheStateMachine stateMachine,
        ClusterView cluster,
        NodeTelemetry telemetry,
        TimeProvider clock,
        IOptions<CacheLimitsOptions> limits,
        CancellationToken token)
    {
        var options = limits.Value;
        var query = http.Request.Query;
        var prefix = query["prefix"].ToString();
        var after = query["after"].Count > 0 ? query["after"].ToString() : null;
        if (!RequestParsing.TryGetConsistent(http.Request, out var consistent, out var badConsistency))
        {
            return badConsistency;
        }

        var limit = 100;
        if (query["limit"].Count > 0 && (!int.TryParse(query["limit"], NumberStyles.None, CultureInfo.InvariantCulture, out limit) || limit is < 1 || limit > options.MaxListLimit))
        {
            return Problems.BadRequest("Invalid limit", $"'limit' must be between 1 and {options.MaxListLimit}.");
        }

        var withValues = !bool.TryParse(query["values"], out var values) || values;
        using var activity = NodeTelemetry.Source.StartActivity("cache.list");
        await EstablishConsistencyAsync(http, consistent, readIndex, stateMachine, cluster, telemetry, token);

        var view = stateMachine.State.Current;
        var page = view.List(prefix, after, limit, clock.GetUtcNow().ToUnixTimeMilliseconds(), out var more);
        var items = new List<ListItem>(page.Count);
        long bytes = 0;
        foreach (var (key, entry) in page)
        {
            // Bound the response: stop early (and say there is more) past the byte budget.
            if (withValues && bytes + entry.Value.Length > options.MaxListBytes && items.Count > 0)
            {
                more = true;
                break;
            }

            bytes += entry.Value.Length;
            items.Add(new ListItem(
                key,
                entry.Version,
                withValues ? Convert.ToBase64String(entry.Value.Span) : null,
                entry.Value.Length,
                entry.ExpiresUnixMs == 0 ? null : DateTimeOffset.FromUnixTimeMilliseconds(entry.ExpiresUnixMs)));
        }

        return TypedResults.Ok(new ListResponse(items, more ? items[^1].Key : null, view.Revision));
    }

    public static async Task<Results<Created<WriteResponse>, Ok<WriteResponse>, ProblemHttpResult>> PutAsync(
        string key,
        HttpContext http,
        WriteCoordinator writes,
        CacheStateMachine stateMachine,
        IOptions<CacheLimitsOptions> limits,
        IOptions<Eviction.EvictionOptions> eviction,
        CancellationToken token)
    {
        var options = limits.Value;
        if (KeyValidator.Validate(key, options.MaxKeyBytes) is { } invalid)
        {
            return Problems.InvalidKey(invalid);
        }

        if (KeyValidator.IsReserved(key))
        {
            return Problems.InvalidKey($"'{key}' is reserved (GET /cache/{key} is an endpoint).");
        }

        if (!RequestParsing.TryGetIdempotencyKey(http.Request, out var idempotencyKey, out var problem)
            || !RequestParsing.TryGetCondition(http.Request, out var expected, out problem)
            || !RequestParsing.TryGetTtl(http.Request, options, out var ttlMs, out problem)
            || !RequestParsing.TryGetPin(http.Request, out var pinned, out problem))
        {
            return problem;
        }

        var value = await RequestBody.ReadAsync(http.Request, options.MaxValueBytes, token);
        if (value is null)
        {
            return Problems.TooLarge($"The value exceeds the limit of {options.MaxValueBytes} bytes.");
        }

        if (MemoryProblem(eviction.Value, stateMachine.State, CacheState.SizeOf(key, value)) is { } full)
        {
            return full;
        }

        var command = new SetCommand(key, value) { IdempotencyKey = idempotencyKey, ExpectedVersion = expected, TtlMs = ttlMs, Pinned = pinned };
        var result = await writes.ProposeAsync(command, token);
        if (WriteProblem(http, result, key) is { } failed)
        {
            return failed;
        }

        http.Response.Headers.ETag = ETag(result.Revision);
        var body = new WriteResponse(key, result.Revision, result.Outcome == CommandOutcome.Created);
        return result.Outcome == CommandOutcome.Created
            ? TypedResults.Created($"/cache/{key}", body)
            : TypedResults.Ok(body);
    }

    public static async Task<Results<NoContent, ProblemHttpResult>> DeleteAsync(
        string key,
        HttpContext http,
        WriteCoordinator writes,
        IOptions<CacheLimitsOptions> limits,
        CancellationToken token)
    {
        if (KeyValidator.Validate(key, limits.Value.MaxKeyBytes) is { } invalid)
        {
            return Problems.InvalidKey(invalid);
        }

        if (!RequestParsing.TryGetIdempotencyKey(http.Request, out var idempotencyKey, out var problem)
            || !RequestParsing.TryGetCondition(http.Request, out var expected, out problem))
        {
            return problem;
        }

        // Existence and conditions are decided at apply time, in log order: 404/412/204 are linearizable.
        var result = await writes.ProposeAsync(new DeleteCommand(key) { IdempotencyKey = idempotencyKey, ExpectedVersion = expected }, token);
        if (WriteProblem(http, result, key) is { } failed)
        {
            return failed;
        }

        if (result.Outcome == CommandOutcome.NotFound)
        {
            return Problems.KeyNotFound(key);
        }

        http.Response.Headers.ETag = ETag(result.Revision);
        return TypedResults.NoContent();
    }

    public static async Task<Results<Ok<BatchResponse>, ProblemHttpResult>> BatchAsync(
        HttpContext http,
        WriteCoordinator writes,
        CacheStateMachine stateMachine,
        IOptions<CacheLimitsOptions> limits,
        IOptions<Eviction.EvictionOptions> eviction,
        CancellationToken token)
    {
        var options = limits.Value;
        if (!RequestParsing.TryGetIdempotencyKey(http.Request, out var idempotencyKey, out var badKey))
        {
            return badKey;
        }

        var body = await RequestBody.ReadAsync(http.Request, options.MaxBatchBytes, token);
        if (body is null)
        {
            return Problems.TooLarge($"The batch exceeds the limit of {options.MaxBatchBytes} bytes.");
        }

        BatchRequest? request;
        try
        {
            request = JsonSerializer.Deserialize(body, ApiJsonContext.Default.BatchRequest);
        }
        catch (JsonException ex)
        {
            return Problems.BadRequest("Malformed batch", $"The body is not a valid batch: {ex.Message}");
        }

        var parsed = BatchParser.Parse(request, options);
        if (parsed.Problem is { } problem)
        {
            return problem;
        }

        if (MemoryProblem(eviction.Value, stateMachine.State, parsed.Command!.Sets.Sum(s => CacheState.SizeOf(s.Key, s.Value))) is { } full)
        {
            return full;
        }

        var result = await writes.ProposeAsync(parsed.Command! with { IdempotencyKey = idempotencyKey }, token);
        if (WriteProblem(http, result, result.FailedKey) is { } failed)
        {
            return failed;
        }

        http.Response.Headers.ETag = ETag(result.Revision);
        return TypedResults.Ok(new BatchResponse(result.Revision, parsed.Command!.Sets.Count, parsed.Command.Deletes.Count));
    }

    public static string ETag(long version) => string.Concat("\"", version.ToString(CultureInfo.InvariantCulture), "\"");

    /// <summary>Linearizable: wait for a confirmed read index. Stale: say how stale the answer may be.</summary>
    private static async Task EstablishConsistencyAsync(HttpContext http, bool consistent, ReadIndexService readIndex, CacheStateMachine stateMachine, ClusterView cluster, NodeTelemetry telemetry, CancellationToken token)
    {
        var headers = http.Response.Headers;
        if (consistent)
        {
            var index = await readIndex.EnsureLinearizableAsync(token);
            headers[ConsistencyHeader] = "linearizable";
            headers[ReadIndexHeader] = index.ToString(CultureInfo.InvariantCulture);
        }
        else
        {
            // No ReadIndex: what this node has applied versus the commit index it has heard of.
            telemetry.StaleRead();
            headers[ConsistencyHeader] = "stale";
            headers[CommitIndexHeader] = cluster.CommitIndex.ToString(CultureInfo.InvariantCulture);
        }

        headers[AppliedIndexHeader] = stateMachine.Applied.Value.ToString(CultureInfo.InvariantCulture);
    }

    /// <summary>
    /// 507 when a write can never fit the memory budget, or when the state is past the hard limit
    /// (eviction cannot keep up, or pinned keys fill the budget). Nothing is written.
    /// </summary>
    private static ProblemHttpResult? MemoryProblem(Eviction.EvictionOptions options, CacheState state, long addedBytes)
    {
        var budget = options.ResolveBudget();
        if (addedBytes > budget)
        {
            return Problems.Create(StatusCodes.Status507InsufficientStorage, "exceeds-memory-budget", "The write can never fit the memory budget", $"It needs {addedBytes} bytes; the budget is {budget} bytes. Nothing was written.");
        }

        if (state.SizeBytes + addedBytes > budget * options.HardLimitFactor)
        {
            return Problems.Create(StatusCodes.Status507InsufficientStorage, "memory-budget-exhausted", "The memory budget is exhausted", "Eviction has not freed enough memory yet (or pinned keys fill the budget). Retry later; nothing was written.");
        }

        return null;
    }

    /// <summary>Maps results that are not successes to problems, and marks replays.</summary>
    private static ProblemHttpResult? WriteProblem(HttpContext http, CommandResult result, string? key)
    {
        if (result.Replayed)
        {
            // Also on a replayed 412/404: the caller learns that this is the original outcome, not a new one.
            http.Response.Headers[ReplayedHeader] = "true";
        }

        switch (result.Outcome)
        {
            case CommandOutcome.IdempotencyConflict:
                return Problems.Create(
                    StatusCodes.Status422UnprocessableEntity,
                    "idempotency-key-reused",
                    "The Idempotency-Key was used for a different request",
                    "Use a new Idempotency-Key for a different request; nothing was written.");

            case CommandOutcome.PreconditionFailed:
                if (key is not null && result.Revision > 0 && result.FailedKey is null)
                {
                    http.Response.Headers.ETag = ETag(result.Revision);
                }

                return Problems.Create(
                    StatusCodes.Status412PreconditionFailed,
                    "precondition-failed",
                    "A version condition did not hold",
                    key is null ? "A condition did not hold; nothing was written." : $"The condition on '{key}' did not hold; nothing was written.",
                    new Dictionary<string, object?> { ["key"] = key, ["currentVersion"] = result.FailedKey is null ? result.Revision : null });
        }

        return null;
    }
}

/// <summary>Validates a batch request into one all-or-nothing <see cref="BatchCommand"/>.</summary>
public static class BatchParser
{
    public readonly record struct Parsed(BatchCommand? Command, ProblemHttpResult? Problem);

    public static Parsed Parse(BatchRequest? request, CacheLimitsOptions options)
    {
        var sets = request?.Set ?? [];
        var deletes = request?.Delete ?? [];
        var conditions = request?.If ?? [];
        if (sets.Count + deletes.Count == 0)
        {
            return Fail(Problems.BadRequest("Empty batch", "A batch needs at least one 'set' or 'delete'."));
        }

        if (sets.Count + deletes.Count > options.MaxBatchKeys || conditions.Count > options.MaxBatchKeys)
        {
            return Fail(Problems.TooLarge($"A batch holds at most {options.MaxBatchKeys} keys; this one has {sets.Count + deletes.Count}."));
        }

        var commandSets = new List<KeyValuePair<string, ReadOnlyMemory<byte>>>(sets.Count);
        foreach (var (key, base64) in sets)
        {
            if (KeyValidator.Validate(key, options.MaxKeyBytes) is { } invalid)
            {
                return Fail(Problems.InvalidKey($"'{key}': {invalid}"));
            }

            if (KeyValidator.IsReserved(key))
            {
                return Fail(Problems.InvalidKey($"'{key}' is reserved."));
            }

            byte[] value;
            try
            {
                value = Convert.FromBase64String(base64 ?? "");
            }
            catch (FormatException)
            {
                return Fail(Problems.BadRequest("Invalid value", $"The value of '{key}' is not valid base64."));
            }

            if (value.Length > options.MaxValueBytes)
            {
                return Fail(Problems.TooLarge($"The value of '{key}' exceeds the limit of {options.MaxValueBytes} bytes."));
            }

            commandSets.Add(new(key, value));
        }

        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var key in deletes)
        {
            if (KeyValidator.Validate(key, options.MaxKeyBytes) is { } invalid)
            {
                return Fail(Problems.InvalidKey($"'{key}': {invalid}"));
            }

            if (sets.ContainsKey(key) || !seen.Add(key))
            {
                return Fail(Problems.BadRequest("Conflicting batch", $"'{key}' appears more than once in the batch."));
            }
        }

        var commandConditions = new List<KeyValuePair<string, long>>(conditions.Count);
        foreach (var (key, version) in conditions)
        {
            if (KeyValidator.Validate(key, options.MaxKeyBytes) is { } invalid)
            {
                return Fail(Problems.InvalidKey($"'{key}': {invalid}"));
            }

            if (version < ExpectedVersion.Any)
            {
                return Fail(Problems.BadRequest("Invalid condition", $"The condition on '{key}' must be a version, 0 (absent) or -1 (exists)."));
            }

            commandConditions.Add(new(key, version));
        }

        return new Parsed(new BatchCommand(commandSets, deletes) { Conditions = commandConditions }, null);
    }

    private static Parsed Fail(ProblemHttpResult problem) => new(null, problem);
}

/// <summary>Reads a request body up to a limit without buffering more than limit + 1 bytes.</summary>
internal static class RequestBody
{
    /// <returns>The body, or <c>null</c> if it is larger than <paramref name="limit"/>.</returns>
    public static async Task<byte[]?> ReadAsync(HttpRequest request, int limit, CancellationToken token)
    {
        if (request.ContentLength > limit)
        {
            return null;
        }

        // Usual case: the length is declared, so read straight into the value's own array.
        if (request.ContentLength is { } declared)
        {
            var value = new byte[declared];
            var filled = 0;
            int read;
            while (filled < value.Length && (read = await request.Body.ReadAsync(value.AsMemory(filled), token)) > 0)
            {
                filled += read;
            }

            // Kestrel enforces Content-Length; a short body fails the read above as a bad request.
            return filled == value.Length ? value : value[..filled];
        }

        using var buffer = new MemoryStream(4096);
        var chunk = new byte[Math.Min(81920, limit + 1)];
        int n;
        while ((n = await request.Body.ReadAsync(chunk, token)) > 0)
        {
            if (buffer.Length + n > limit)
            {
                return null;
            }

            buffer.Write(chunk, 0, n);
        }

        return buffer.ToArray();
    }
}
