using AspireCache.Node.HotKeys;
using System.Globalization;
using System.Text.Json;
using AspireCache.Node.Auth;
using AspireCache.Node.Cache;
using AspireCache.Node.Diagnostics;
using AspireCache.Node.Raft;
using AspireCache.Node.StateMachine;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using AspireCache.Node.Api.OpenApi;
using JsonSchemaType = Microsoft.OpenApi.JsonSchemaType;

namespace AspireCache.Node.Api;

/// <summary>
/// The key-value HTTP API. Handlers parse and validate (<see cref="RequestParsing"/>), call the
/// <see cref="CacheService"/> (reads, lists, writes), and map its outcomes to HTTP. Every limit and every header is
/// checked before anything is proposed: a rejected request changes nothing.
/// </summary>
public static class CacheApi
{
    public const string ConsistencyHeader = CacheHeaders.Consistency;
    public const string AppliedIndexHeader = CacheHeaders.AppliedIndex;
    public const string CommitIndexHeader = CacheHeaders.CommitIndex;
    public const string ReadIndexHeader = CacheHeaders.ReadIndex;
    public const string TtlHeader = CacheHeaders.TtlMs;
    public const string IdempotencyKeyHeader = CacheHeaders.IdempotencyKey;
    public const string ReplayedHeader = CacheHeaders.Replayed;

    public static IEndpointRouteBuilder MapCacheApi(this IEndpointRouteBuilder app)
    {
        var cache = app.MapGroup("/cache");
        cache.MapGet("/", ListAsync).RequireScope(Scope.Read, KeyCheck.ListPrefix).Documented(
            "ListKeys", NodeApiTags.Keys, "List keys by prefix, one page at a time",
            "Keys in ordinal order, starting after `after`, with their versions (and base64 values unless `values=false`). A page stops early at the response byte budget; `next` is then the `after` of the next page. `revision` is the state revision of the page: watch from it to follow every later change.",
            doc => doc
                .Query("prefix", "Only keys starting with this (default: every key).")
                .Query("after", "Start after this key (the previous page's `next`).")
                .Query("limit", "Keys per page, 1 to `CacheLimits:MaxListLimit` (default 100).", JsonSchemaType.Integer)
                .Query("values", "Include the values (base64). Default `true`.", JsonSchemaType.Boolean)
                .Query("consistent", ConsistentDescription, JsonSchemaType.Boolean)
                .Response(StatusCodes.Status200OK, "One page of keys.")
                .ReadHeaders(StatusCodes.Status200OK)
                .Problem(StatusCodes.Status400BadRequest, "A malformed `limit` or `consistent`.", "invalid-request")
                .ClusterBacked(ClusterErrors.Read, "linearizable reads only"));
        cache.MapGet("/hot", HotKeys).RequireScope(Scope.Read).Documented(
            "GetHotKeys", NodeApiTags.HotKeys, "This node's hottest keys",
            "The keys this node served most (estimated reads with a decaying half-life, heaviest first; near-cache hits reported with `POST /cache/hot` count too). Per node: ask each node, or the router's nearest. A prefix-limited credential sees only its own keys.",
            doc => doc
                .Query("count", "How many keys, 1 to 100 (default 10; out of range is clamped).", JsonSchemaType.Integer)
                .Response(StatusCodes.Status200OK, "The hottest keys."));
        cache.MapPost("/hot", ReportNearCacheHitsAsync).RequireScope(Scope.Read).Documented(
            "ReportNearCacheHits", NodeApiTags.HotKeys, "Report reads served from a near cache",
            $"Reads a client answered from its own near cache since its last report, key → count. They count as this node's reads for the hot-key statistics and for LRU recency, so a key every instance keeps locally is neither invisible nor evicted first. At most {MaxReportedKeys} keys per report; counts are capped per key; keys outside a prefix-limited credential's prefixes are ignored.",
            doc => doc
                .JsonBody<AccessReport>("`{\"keys\": {\"<key>\": <count>, ...}}`, at most `CacheLimits:MaxBatchBytes` bytes.")
                .Response(StatusCodes.Status204NoContent, "Recorded.")
                .Problem(StatusCodes.Status400BadRequest, "The body is not an access report, or names too many keys.", "invalid-request")
                .Problem(StatusCodes.Status413PayloadTooLarge, "The report is over the byte limit.", "too-large")
                .Problem(StatusCodes.Status415UnsupportedMediaType, "The body is not `application/json`.", "unsupported-media-type"));
        cache.MapPost("/batch", BatchAsync).RequireScope(Scope.Write).Documented( // its keys: checked once parsed
            "WriteBatch", NodeApiTags.Batch, "Write several keys atomically",
            "Sets (base64 values) and deletes applied all or nothing at one version, if every condition in `if` holds (key → version; 0 = must be absent, -1 = must exist). A failed condition writes nothing (412).",
            doc => doc
                .JsonBody<BatchRequest>("The batch: at most `CacheLimits:MaxBatchKeys` keys and `CacheLimits:MaxBatchBytes` bytes.")
                .Header(IdempotencyKeyHeader, IdempotencyKeyDescription)
                .Response(StatusCodes.Status200OK, "Applied: every change took effect at `version`.")
                .ResponseHeader(StatusCodes.Status200OK, "ETag", "The batch's version, quoted.")
                .ResponseHeader(StatusCodes.Status200OK, ReplayedHeader, ReplayedDescription)
                .Problem(StatusCodes.Status400BadRequest, "Malformed JSON, an empty batch, a key twice, a value that is not base64, an invalid condition, an invalid key or `Idempotency-Key`.", "invalid-request", "invalid-key")
                .Problem(StatusCodes.Status403Forbidden, "A key of the batch is outside the credential's prefixes.", "forbidden")
                .Problem(StatusCodes.Status412PreconditionFailed, "A condition did not hold; nothing was written.", "precondition-failed")
                .ResponseHeader(StatusCodes.Status412PreconditionFailed, ReplayedHeader, ReplayedDescription)
                .Problem(StatusCodes.Status413PayloadTooLarge, "Too many keys, a value over `CacheLimits:MaxValueBytes`, or a body over `CacheLimits:MaxBatchBytes`.", "too-large")
                .Problem(StatusCodes.Status422UnprocessableEntity, "The `Idempotency-Key` was used for a different request.", "idempotency-key-reused")
                .Problem(StatusCodes.Status507InsufficientStorage, "The batch does not fit the memory budget; nothing was written.", "exceeds-memory-budget", "memory-budget-exhausted")
                .ClusterBacked(ClusterErrors.Write));
        cache.MapGet("/{**key}", GetAsync).RequireScope(Scope.Read, KeyCheck.RouteKey).Documented(
            "GetKey", NodeApiTags.Keys, "Read a key's value",
            "The stored bytes exactly as written, with the key's version as `ETag`. A conditional GET (`If-None-Match` with the version you hold) answers 304 without the value.",
            doc => doc
                .Path("key", KeyDescription, "app/feature-flags", reserved: true)
                .Query("consistent", ConsistentDescription, JsonSchemaType.Boolean)
                .Header("If-None-Match", "The `ETag` (version) you hold, or `*`: 304 if the value is still that version.", "\"42\"")
                .Response(StatusCodes.Status200OK, "The value.", "application/octet-stream", "binary")
                .ResponseHeader(StatusCodes.Status200OK, "ETag", "The key's version, quoted (send it as `If-Match` to compare-and-set).")
                .ResponseHeader(StatusCodes.Status200OK, "Last-Modified", "When the value was written.")
                .ResponseHeader(StatusCodes.Status200OK, TtlHeader, "Keys with a TTL: milliseconds left.", JsonSchemaType.Integer)
                .ResponseHeader(StatusCodes.Status200OK, "Expires", "Keys with a TTL: when the value expires.")
                .ReadHeaders(StatusCodes.Status200OK)
                .Response(StatusCodes.Status304NotModified, "304 Not Modified: the value is still the version in `If-None-Match` (no body).")
                .ResponseHeader(StatusCodes.Status304NotModified, "ETag", "The key's version, quoted.")
                .Problem(StatusCodes.Status400BadRequest, "An invalid key, or a malformed `consistent`.", "invalid-key", "invalid-request")
                .Problem(StatusCodes.Status404NotFound, "No value is stored under the key.", "key-not-found")
                .ReadHeaders(StatusCodes.Status404NotFound)
                .ClusterBacked(ClusterErrors.Read, "linearizable reads only"));
        cache.MapPut("/{**key}", PutAsync).RequireScope(Scope.Write, KeyCheck.RouteKey).Documented(
            "PutKey", NodeApiTags.Keys, "Write a key's value",
            "Stores the body's bytes as they are (any content type), at a new version returned as `ETag`. Compare-and-set with `If-Match: \"<version>\"`, update-only with `If-Match: *`, create-only with `If-None-Match: *`. `ttl` expires the key; `pin=true` keeps it from eviction under memory pressure.",
            doc => doc
                .Path("key", KeyDescription, "app/feature-flags", reserved: true)
                .BinaryBody("The value: any bytes, at most `CacheLimits:MaxValueBytes` (1 MiB by default).")
                .Query("ttl", "Time to live: seconds (`30`) or with a unit (`500ms`, `30s`, `5m`, `1h`, `1d`), up to `CacheLimits:MaxTtl`.", example: "5m")
                .Query("pin", "`true`: never evicted under memory pressure.", JsonSchemaType.Boolean)
                .Header("If-Match", "Compare-and-set: one `ETag` (`\"42\"`: only if the key is at that version) or `*` (only if it exists).", "\"42\"")
                .Header("If-None-Match", "`*`: only if the key does not exist (create-only).", "*")
                .Header(IdempotencyKeyHeader, IdempotencyKeyDescription)
                .Response(StatusCodes.Status200OK, "Updated.")
                .Response(StatusCodes.Status201Created, "Created.")
                .ResponseHeader(StatusCodes.Status200OK, "ETag", "The new version, quoted.")
                .ResponseHeader(StatusCodes.Status200OK, ReplayedHeader, ReplayedDescription)
                .ResponseHeader(StatusCodes.Status201Created, "ETag", "The new version, quoted.")
                .ResponseHeader(StatusCodes.Status201Created, "Location", "The key's URL.")
                .ResponseHeader(StatusCodes.Status201Created, ReplayedHeader, ReplayedDescription)
                .Problem(StatusCodes.Status400BadRequest, "An invalid or reserved key, or a malformed `ttl`, `pin`, `If-Match`, `If-None-Match` or `Idempotency-Key`.", "invalid-key", "invalid-request")
                .Problem(StatusCodes.Status412PreconditionFailed, "The `If-Match`/`If-None-Match` condition did not hold (`currentVersion`, and the current version as `ETag`); nothing was written.", "precondition-failed")
                .ResponseHeader(StatusCodes.Status412PreconditionFailed, "ETag", "The key's current version, quoted (when it exists).")
                .Problem(StatusCodes.Status413PayloadTooLarge, "The value is over `CacheLimits:MaxValueBytes`.", "too-large")
                .Problem(StatusCodes.Status422UnprocessableEntity, "The `Idempotency-Key` was used for a different request.", "idempotency-key-reused")
                .Problem(StatusCodes.Status507InsufficientStorage, "The value does not fit the memory budget; nothing was written.", "exceeds-memory-budget", "memory-budget-exhausted")
                .ClusterBacked(ClusterErrors.Write));
        cache.MapDelete("/{**key}", DeleteAsync).RequireScope(Scope.Write, KeyCheck.RouteKey).Documented(
            "DeleteKey", NodeApiTags.Keys, "Delete a key",
            "Removes the key. With `If-Match: \"<version>\"` only if it is still at that version. Existence and conditions are decided in log order, so 204/404/412 are linearizable.",
            doc => doc
                .Path("key", KeyDescription, "app/feature-flags", reserved: true)
                .Header("If-Match", "Compare-and-delete: one `ETag` (`\"42\"`) or `*`.", "\"42\"")
                .Header(IdempotencyKeyHeader, IdempotencyKeyDescription)
                .Response(StatusCodes.Status204NoContent, "Deleted.")
                .ResponseHeader(StatusCodes.Status204NoContent, "ETag", "The revision of the delete, quoted.")
                .ResponseHeader(StatusCodes.Status204NoContent, ReplayedHeader, ReplayedDescription)
                .Problem(StatusCodes.Status400BadRequest, "An invalid key, or a malformed `If-Match`, `If-None-Match` or `Idempotency-Key`.", "invalid-key", "invalid-request")
                .Problem(StatusCodes.Status404NotFound, "No value was stored under the key.", "key-not-found")
                .Problem(StatusCodes.Status412PreconditionFailed, "The `If-Match` condition did not hold; nothing was deleted.", "precondition-failed")
                .Problem(StatusCodes.Status422UnprocessableEntity, "The `Idempotency-Key` was used for a different request.", "idempotency-key-reused")
                .ClusterBacked(ClusterErrors.Write));
        return app;
    }

    private const string KeyDescription = "The key: any non-empty Unicode text without control characters, up to `CacheLimits:MaxKeyBytes` UTF-8 bytes. `/` separates segments of the key and is sent as is (`app/db/url`): `%2F` is not decoded (it would be part of the key's name); percent-encode other reserved characters segment by segment (marked `x-ms-reserved-parameter` for Kiota). The top-level names `hot`, `batch` and `watch` are endpoints and cannot be written.";

    private const string ConsistentDescription = "`true` (default): linearizable — the node first confirms with the leader that it has every acknowledged write. `false`: this node's state as it is (faster, possibly stale; no leader needed).";

    private const string IdempotencyKeyDescription = "One key per logical write (1–128 printable ASCII characters): a retry with the same key and request is applied once and answers the recorded result; with a different request, 422.";

    private const string ReplayedDescription = "`true` when this is the result recorded earlier under the request's `Idempotency-Key`.";

    public static async Task<Results<FileContentHttpResult, StatusCodeHttpResult, ProblemHttpResult>> GetAsync(
        string? key,
        HttpContext http,
        CacheService cache,
        IOptions<CacheLimitsOptions> limits,
        CancellationToken token)
    {
        // The key is nullable: "/cache/{**key}" also matches no key at all ("PUT /cache/", or a path whose
        // dot segments resolve to it), which is an invalid key (a 400 problem), not the framework's
        // binding failure (an empty 400). The same in PUT and DELETE.
        if (!KeyValidator.IsValid(key, limits.Value.MaxKeyBytes, out var invalid))
        {
            return Problems.InvalidKey(invalid);
        }

        if (!RequestParsing.TryGetConsistent(http.Request, out var consistent, out var badConsistency))
        {
            return badConsistency;
        }

        var read = await cache.GetAsync(key, consistent, token);
        WriteConsistencyHeaders(http, read.Position);
        http.Response.Headers[CacheHeaders.Revision] = read.Revision.ToString(CultureInfo.InvariantCulture);
        if (read.Entry is not { } entry)
        {
            return Problems.KeyNotFound(key);
        }

        var now = read.NowUnixMs;
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
        var top = tracker.Top(count).AsEnumerable();
        if (ClientAuth.CredentialOf(http) is { IsPrefixLimited: true } credential)
        {
            top = top.Where(h => credential.AllowsKey(h.Key)); // a prefix-limited credential sees only its own keys
        }

        return TypedResults.Ok(new HotKeysResponse(cluster.NodeId, tracker.HalfLife.TotalSeconds, [.. top.Select(h => new HotKeyItem(h.Key, h.EstimatedCount))]));
    }

    /// <summary>
    /// <c>POST /cache/hot</c> <c>{"keys":{"k":12}}</c>: reads a client answered from its near cache.
    /// They count as this node's reads for the hot-key statistics and for LRU recency (forwarded to
    /// the leader as a follower's own reads are), so a key every instance keeps locally is neither
    /// invisible in <c>GET /cache/hot</c> nor the first evicted. At most
    /// <see cref="MaxReportedKeys"/> keys per report (else 400); counts are capped per key.
    /// The body is read here, not bound by the framework: its binding failures (malformed JSON, a
    /// body that is not JSON) were answered with an empty 400/415 instead of a problem (found by
    /// the API fuzzer); it is bounded by <see cref="CacheLimitsOptions.MaxBatchBytes"/>.
    /// </summary>
    public static async Task<Results<NoContent, ProblemHttpResult>> ReportNearCacheHitsAsync(HttpContext http, HotKeyTracker tracker, Eviction.AccessTracker access, TimeProvider clock, IOptions<CacheLimitsOptions> limits, CancellationToken token)
    {
        if (!http.Request.HasJsonContentType())
        {
            return Problems.UnsupportedMediaType("The body must be JSON", "Send the report as application/json.");
        }

        var body = await RequestBody.ReadAsync(http.Request, limits.Value.MaxBatchBytes, token);
        if (body is null)
        {
            return Problems.TooLarge($"The report exceeds the limit of {limits.Value.MaxBatchBytes} bytes.");
        }

        AccessReport? report;
        try
        {
            report = body.Length == 0 ? null : JsonSerializer.Deserialize(body, ApiJsonContext.Default.AccessReport);
        }
        catch (JsonException)
        {
            report = null;
        }

        var credential = ClientAuth.CredentialOf(http);
        if (report?.Keys is not { } keys)
        {
            return Problems.BadRequest("Invalid access report", "The body must be {\"keys\": {\"<key>\": <count>, ...}}.");
        }

        if (keys.Count > MaxReportedKeys)
        {
            return Problems.BadRequest("Invalid access report", $"At most {MaxReportedKeys} keys per report.");
        }

        var now = clock.GetUtcNow().ToUnixTimeMilliseconds();
        foreach (var (key, count) in keys)
        {
            if (string.IsNullOrEmpty(key) || count <= 0 || credential?.AllowsKey(key) == false)
            {
                continue; // (a prefix-limited credential counts only reads of its own keys)
            }

            tracker.Record(key, Math.Min(count, MaxReportedCount));
            access.Touch(key, now);
        }

        return TypedResults.NoContent();
    }

    /// <summary>Keys one near-cache access report may name.</summary>
    public const int MaxReportedKeys = 4096;

    /// <summary>Reads one report may claim for one key (a bound on what one client can make look hot).</summary>
    public const long MaxReportedCount = 1_000_000;

    /// <summary><c>GET /cache?prefix=app/&amp;after=app/x&amp;limit=100&amp;values=true&amp;consistent=true</c>: one page of keys in order.</summary>
    public static async Task<Results<Ok<ListResponse>, ProblemHttpResult>> ListAsync(
        HttpContext http,
        CacheService cache,
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
        var listed = await cache.ListAsync(prefix, after, limit, consistent, token);
        WriteConsistencyHeaders(http, listed.Position);
        http.Response.Headers[CacheHeaders.Revision] = listed.Revision.ToString(CultureInfo.InvariantCulture);
        var (page, more) = (listed.Page, listed.More);
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

        return TypedResults.Ok(new ListResponse(items, more ? items[^1].Key : null, listed.Revision));
    }

    public static async Task<Results<Created<WriteResponse>, Ok<WriteResponse>, ProblemHttpResult>> PutAsync(
        string? key,
        HttpContext http,
        CacheService cache,
        IOptions<CacheLimitsOptions> limits,
        CancellationToken token)
    {
        var options = limits.Value;
        if (!KeyValidator.IsValid(key, options.MaxKeyBytes, out var invalid))
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

        var command = new SetCommand(key, value) { IdempotencyKey = idempotencyKey, ExpectedVersion = expected, TtlMs = ttlMs, Pinned = pinned, Writer = ClientAuth.WriterOf(http) };
        var (result, refused) = await cache.PutAsync(command, token);
        if (refused is not null)
        {
            return MemoryProblem(refused);
        }

        if (WriteProblem(http, result, key) is { } failed)
        {
            return failed;
        }

        http.Response.Headers.ETag = ETag(result.Revision);
        var body = new WriteResponse(key, result.Revision, result.Outcome == CommandOutcome.Created);
        return result.Outcome == CommandOutcome.Created
            ? TypedResults.Created(LocationOf(key), body)
            : TypedResults.Ok(body);
    }

    public static async Task<Results<NoContent, ProblemHttpResult>> DeleteAsync(
        string? key,
        HttpContext http,
        CacheService cache,
        IOptions<CacheLimitsOptions> limits,
        CancellationToken token)
    {
        if (!KeyValidator.IsValid(key, limits.Value.MaxKeyBytes, out var invalid))
        {
            return Problems.InvalidKey(invalid);
        }

        if (!RequestParsing.TryGetIdempotencyKey(http.Request, out var idempotencyKey, out var problem)
            || !RequestParsing.TryGetCondition(http.Request, out var expected, out problem))
        {
            return problem;
        }

        // Existence and conditions are decided at apply time, in log order: 404/412/204 are linearizable.
        var result = await cache.DeleteAsync(new DeleteCommand(key) { IdempotencyKey = idempotencyKey, ExpectedVersion = expected, Writer = ClientAuth.WriterOf(http) }, token);
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
        CacheService cache,
        IOptions<CacheLimitsOptions> limits,
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

        var credential = ClientAuth.CredentialOf(http);
        if (credential is { IsPrefixLimited: true } && OutsidePrefixes(parsed.Command!, credential) is { } outside)
        {
            return ClientAuth.OutsidePrefixes(credential, outside);
        }

        var (result, refused) = await cache.BatchAsync(parsed.Command! with { IdempotencyKey = idempotencyKey, Writer = credential?.Name }, token);
        if (refused is not null)
        {
            return MemoryProblem(refused);
        }

        if (WriteProblem(http, result, result.FailedKey) is { } failed)
        {
            return failed;
        }

        http.Response.Headers.ETag = ETag(result.Revision);
        return TypedResults.Ok(new BatchResponse(result.Revision, parsed.Command!.Sets.Count, parsed.Command.Deletes.Count));
    }

    /// <summary>The first key of the batch (set, delete or condition) outside the credential's prefixes, or null.</summary>
    private static string? OutsidePrefixes(BatchCommand batch, ClientCredential credential)
    {
        foreach (var (key, _) in batch.Sets)
        {
            if (!credential.AllowsKey(key))
            {
                return key;
            }
        }

        foreach (var key in batch.Deletes)
        {
            if (!credential.AllowsKey(key))
            {
                return key;
            }
        }

        foreach (var (key, _) in batch.Conditions)
        {
            if (!credential.AllowsKey(key))
            {
                return key;
            }
        }

        return null;
    }

    /// <summary>
    /// The 201's <c>Location</c>: the key percent-encoded segment by segment (a header value must be
    /// ASCII; a raw <c>配置/a</c> made Kestrel refuse the answer after the write was applied).
    /// </summary>
    public static string LocationOf(string key) =>
        "/cache/" + string.Join('/', key.Split('/').Select(Uri.EscapeDataString));

    public static string ETag(long version) => CacheHeaders.ETagOf(version);

    /// <summary>Linearizable: the confirmed read index. Stale: the commit index this node has heard of. Both: what it had applied.</summary>
    internal static void WriteConsistencyHeaders(HttpContext http, ReadPosition position)
    {
        var headers = http.Response.Headers;
        if (position.Linearizable)
        {
            headers[ConsistencyHeader] = "linearizable";
            headers[ReadIndexHeader] = position.ReadIndex.ToString(CultureInfo.InvariantCulture);
        }
        else
        {
            headers[ConsistencyHeader] = "stale";
            headers[CommitIndexHeader] = position.CommitIndex.ToString(CultureInfo.InvariantCulture);
        }

        headers[AppliedIndexHeader] = position.AppliedIndex.ToString(CultureInfo.InvariantCulture);
    }

    /// <summary>507: the write can never fit the memory budget, or the state is past the hard limit. Nothing was written.</summary>
    private static ProblemHttpResult MemoryProblem(MemoryRefusal refused) => refused.Never
        ? Problems.Create(StatusCodes.Status507InsufficientStorage, "exceeds-memory-budget", "The write can never fit the memory budget", $"It needs {refused.NeededBytes} bytes; the budget is {refused.BudgetBytes} bytes. Nothing was written.")
        : Problems.Create(StatusCodes.Status507InsufficientStorage, "memory-budget-exhausted", "The memory budget is exhausted", "Eviction has not freed enough memory yet (or pinned keys fill the budget). Retry later; nothing was written.");

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
