using System.Globalization;
using System.Text.Json;
using AspireCache.Node.Diagnostics;
using AspireCache.Node.Raft;
using AspireCache.Node.StateMachine;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;

namespace AspireCache.Node.Api;

/// <summary>
/// The key-value HTTP API. Handlers parse and validate, hand commands to the write path
/// (<see cref="WriteCoordinator"/>) or run the read path (<see cref="ReadIndexService"/>), and map
/// results to HTTP. Every limit is checked before anything is proposed: a rejected request changes nothing.
/// </summary>
public static class CacheApi
{
    public const string ConsistencyHeader = "X-AspireCache-Consistency";
    public const string AppliedIndexHeader = "X-AspireCache-Applied-Index";
    public const string CommitIndexHeader = "X-AspireCache-Commit-Index";
    public const string ReadIndexHeader = "X-AspireCache-Read-Index";
    public const string IdempotencyKeyHeader = "Idempotency-Key";
    public const string ReplayedHeader = "Idempotent-Replayed";
    public const int MaxIdempotencyKeyLength = 128;

    public static IEndpointRouteBuilder MapCacheApi(this IEndpointRouteBuilder app)
    {
        var cache = app.MapGroup("/cache");
        cache.MapPost("/batch", BatchAsync);
        cache.MapGet("/{**key}", GetAsync);
        cache.MapPut("/{**key}", PutAsync);
        cache.MapDelete("/{**key}", DeleteAsync);
        return app;
    }

    public static async Task<Results<FileContentHttpResult, ProblemHttpResult>> GetAsync(
        string key,
        HttpContext http,
        ReadIndexService readIndex,
        CacheStateMachine stateMachine,
        ClusterView cluster,
        NodeTelemetry telemetry,
        IOptions<CacheLimitsOptions> limits,
        CancellationToken token)
    {
        if (KeyValidator.Validate(key, limits.Value.MaxKeyBytes) is { } invalid)
        {
            return Problems.InvalidKey(invalid);
        }

        if (!TryParseConsistent(http.Request.Query["consistent"], out var consistent))
        {
            return Problems.BadRequest("Invalid consistency", "The 'consistent' query parameter must be 'true' or 'false'.");
        }

        using var activity = NodeTelemetry.Source.StartActivity("cache.read");
        activity?.SetTag("cache.consistency", consistent ? "linearizable" : "stale");
        var headers = http.Response.Headers;
        if (consistent)
        {
            var index = await readIndex.EnsureLinearizableAsync(token);
            headers[ConsistencyHeader] = "linearizable";
            headers[ReadIndexHeader] = index.ToString(CultureInfo.InvariantCulture);
        }
        else
        {
            // Stale read: no ReadIndex. Say how stale it may be: what this node has applied versus
            // the commit index it has heard of from the leader.
            telemetry.StaleRead();
            headers[ConsistencyHeader] = "stale";
            headers[CommitIndexHeader] = cluster.CommitIndex.ToString(CultureInfo.InvariantCulture);
        }

        headers[AppliedIndexHeader] = stateMachine.Applied.Value.ToString(CultureInfo.InvariantCulture);
        if (!stateMachine.State.TryGet(key, out var entry))
        {
            activity?.SetTag("cache.hit", false);
            return Problems.KeyNotFound(key);
        }

        activity?.SetTag("cache.hit", true);
        activity?.SetTag("cache.version", entry.Version);

        headers.ETag = ETag(entry.Version);
        return TypedResults.File(
            entry.Value.ToArray(),
            "application/octet-stream",
            lastModified: DateTimeOffset.FromUnixTimeMilliseconds(entry.UpdatedUnixMs));
    }

    public static async Task<Results<Created<WriteResponse>, Ok<WriteResponse>, ProblemHttpResult>> PutAsync(
        string key,
        HttpContext http,
        WriteCoordinator writes,
        IOptions<CacheLimitsOptions> limits,
        CancellationToken token)
    {
        var options = limits.Value;
        if (KeyValidator.Validate(key, options.MaxKeyBytes) is { } invalid)
        {
            return Problems.InvalidKey(invalid);
        }

        if (!TryGetIdempotencyKey(http.Request, out var idempotencyKey, out var badKey))
        {
            return badKey;
        }

        var value = await RequestBody.ReadAsync(http.Request, options.MaxValueBytes, token);
        if (value is null)
        {
            return Problems.TooLarge($"The value exceeds the limit of {options.MaxValueBytes} bytes.");
        }

        var result = await writes.ProposeAsync(new SetCommand(key, value) { IdempotencyKey = idempotencyKey }, token);
        if (WriteProblem(http, result) is { } conflict)
        {
            return conflict;
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

        if (!TryGetIdempotencyKey(http.Request, out var idempotencyKey, out var badKey))
        {
            return badKey;
        }

        // Existence is decided at apply time, in log order, so 404 vs 204 is itself linearizable.
        var result = await writes.ProposeAsync(new DeleteCommand(key) { IdempotencyKey = idempotencyKey }, token);
        if (WriteProblem(http, result) is { } conflict)
        {
            return conflict;
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
        IOptions<CacheLimitsOptions> limits,
        CancellationToken token)
    {
        var options = limits.Value;
        if (!TryGetIdempotencyKey(http.Request, out var idempotencyKey, out var badKey))
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

        var result = await writes.ProposeAsync(parsed.Command! with { IdempotencyKey = idempotencyKey }, token);
        if (WriteProblem(http, result) is { } conflict)
        {
            return conflict;
        }

        http.Response.Headers.ETag = ETag(result.Revision);
        return TypedResults.Ok(new BatchResponse(result.Revision, parsed.Command!.Sets.Count, parsed.Command.Deletes.Count));
    }

    /// <summary>
    /// <c>Idempotency-Key</c> (IETF httpapi draft): optional, 1–128 printable ASCII characters.
    /// A repeated key with the same request returns the recorded result; with a different request, 422.
    /// </summary>
    private static bool TryGetIdempotencyKey(HttpRequest request, out string? key, out ProblemHttpResult problem)
    {
        problem = null!;
        key = null;
        var values = request.Headers[IdempotencyKeyHeader];
        if (values.Count == 0)
        {
            return true;
        }

        key = values.Count == 1 ? values[0] : null;
        if (string.IsNullOrEmpty(key) || key.Length > MaxIdempotencyKeyLength || key.Any(c => c is < (char)0x21 or > (char)0x7E))
        {
            problem = Problems.BadRequest("Invalid Idempotency-Key", $"The Idempotency-Key header must be one value of 1–{MaxIdempotencyKeyLength} printable ASCII characters.");
            return false;
        }

        return true;
    }

    /// <summary>Maps results that are not successes to problems, and marks replays.</summary>
    private static ProblemHttpResult? WriteProblem(HttpContext http, CommandResult result)
    {
        if (result.Outcome == CommandOutcome.IdempotencyConflict)
        {
            return Problems.Create(
                StatusCodes.Status422UnprocessableEntity,
                "idempotency-key-reused",
                "The Idempotency-Key was used for a different request",
                "Use a new Idempotency-Key for a different request; nothing was written.");
        }

        if (result.Replayed)
        {
            http.Response.Headers[ReplayedHeader] = "true";
        }

        return null;
    }

    public static string ETag(long version) => string.Concat("\"", version.ToString(CultureInfo.InvariantCulture), "\"");

    private static bool TryParseConsistent(Microsoft.Extensions.Primitives.StringValues values, out bool consistent)
    {
        consistent = true;
        if (values.Count == 0)
        {
            return true;
        }

        return values.Count == 1 && bool.TryParse(values[0], out consistent);
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
        if (sets.Count + deletes.Count == 0)
        {
            return Fail(Problems.BadRequest("Empty batch", "A batch needs at least one 'set' or 'delete'."));
        }

        if (sets.Count + deletes.Count > options.MaxBatchKeys)
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

        return new Parsed(new BatchCommand(commandSets, deletes), null);
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

        var capacity = request.ContentLength is { } length ? (int)length : 4096;
        using var buffer = new MemoryStream(capacity);
        var chunk = new byte[Math.Min(81920, limit + 1)];
        int read;
        while ((read = await request.Body.ReadAsync(chunk, token)) > 0)
        {
            if (buffer.Length + read > limit)
            {
                return null;
            }

            buffer.Write(chunk, 0, read);
        }

        return buffer.ToArray();
    }
}
