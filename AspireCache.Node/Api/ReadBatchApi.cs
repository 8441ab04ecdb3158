using System.Buffers;
using System.Globalization;
using AspireCache.Node.Auth;
using AspireCache.Node.Cache;
using AspireCache.Node.StateMachine;
using Microsoft.Extensions.Options;

namespace AspireCache.Node.Api;

/// <summary>
/// <c>POST /cluster/read-batch[?consistent=false]</c>: the router's coalesced GETs (<see cref="ReadBatchWire"/>).
/// One immutable view for every key (and, linearizable, one read index), so each key's answer is what its own GET
/// would have been at that moment; the read's headers are this answer's headers. A key that its own
/// GET would refuse (invalid, outside the credential's prefixes) or that does not fit the answer's
/// byte budget is <see cref="ReadBatchWire.Skipped"/>: the router sends it as a GET of its own and
/// the caller gets the node's exact answer. Authenticated like any client read (the caller's
/// credential, read scope); served on the client endpoint.
/// </summary>
public static class ReadBatchApi
{
    /// <summary>Value bytes one answer carries before the rest of its keys are skipped (the first value always fits).</summary>
    public const int MaxAnswerValueBytes = 1024 * 1024;

    /// <summary>
    /// Keys one batch may name (the router sends at most <c>Router:ReadCoalescing:MaxBatchKeys</c>, at most
    /// this). Not <c>Cache:Limits:MaxBatchKeys</c>: that bounds an atomic write's log entry, and a router
    /// whose batches a lowered write limit refused would forward every GET alone.
    /// </summary>
    public const int MaxKeys = 1000;

    public static IEndpointRouteBuilder MapReadBatchApi(this IEndpointRouteBuilder app)
    {
        app.MapPost(ReadBatchWire.Path, ReadAsync).RequireScope(Scope.Read).ExcludeFromDescription();
        return app;
    }

    public static async Task<IResult> ReadAsync(HttpContext http, CacheService cache, IOptions<CacheLimitsOptions> limits, CancellationToken token)
    {
        var options = limits.Value;
        if (!string.Equals(http.Request.ContentType, ReadBatchWire.RequestMediaType, StringComparison.OrdinalIgnoreCase))
        {
            return Problems.UnsupportedMediaType("Unsupported media type", $"Send the keys as {ReadBatchWire.RequestMediaType}.");
        }

        if (!RequestParsing.TryGetConsistent(http.Request, out var consistent, out var badConsistency))
        {
            return badConsistency;
        }

        var maxBytes = MaxKeys * (2 + options.MaxKeyBytes);
        var body = await RequestBody.ReadAsync(http.Request, maxBytes, token);
        if (body is null)
        {
            return Problems.TooLarge($"The batch exceeds the limit of {maxBytes} bytes.");
        }

        var keys = new List<string>();
        if (!ReadBatchWire.TryDecodeRequest(new ReadOnlySequence<byte>(body), MaxKeys, keys))
        {
            return Problems.BadRequest("Invalid read batch", $"The body must name 1 to {MaxKeys} keys.");
        }

        // Keys their own GET would refuse are not read (an empty key is never found): skipped below.
        var credential = ClientAuth.CredentialOf(http);
        var refused = new bool[keys.Count];
        for (var i = 0; i < keys.Count; i++)
        {
            if (!KeyValidator.IsValid(keys[i], options.MaxKeyBytes, out _) || credential?.AllowsKey(keys[i]) == false)
            {
                refused[i] = true;
                keys[i] = string.Empty;
            }
        }

        var entries = new CacheEntry?[keys.Count];
        var read = await cache.GetManyAsync(keys, entries, consistent, token);
        CacheApi.WriteConsistencyHeaders(http, read.Position);
        http.Response.Headers[CacheHeaders.Revision] = read.Revision.ToString(CultureInfo.InvariantCulture);
        http.Response.ContentType = ReadBatchWire.ResponseMediaType;

        var writer = http.Response.BodyWriter;
        ReadBatchWire.WriteHeader(writer, read.NowUnixMs);
        long valueBytes = 0;
        for (var i = 0; i < entries.Length; i++)
        {
            if (refused[i])
            {
                ReadBatchWire.WriteStatus(writer, ReadBatchWire.Skipped);
            }
            else if (entries[i] is not { } entry)
            {
                ReadBatchWire.WriteStatus(writer, ReadBatchWire.NotFound);
            }
            else if (valueBytes > 0 && valueBytes + entry.Value.Length > MaxAnswerValueBytes)
            {
                ReadBatchWire.WriteStatus(writer, ReadBatchWire.Skipped);
            }
            else
            {
                valueBytes += entry.Value.Length;
                ReadBatchWire.WriteFound(writer, entry.Version, entry.UpdatedUnixMs, entry.ExpiresUnixMs, entry.Value.Span);
            }
        }

        await writer.FlushAsync(token);
        return Results.Empty;
    }
}
