using AspireCache.Node.Auth;
using AspireCache.Node.Cache;
using AspireCache.Node.Raft;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.Extensions.Options;

namespace AspireCache.Node.Api;

/// <summary>
/// <c>POST /cluster/write-batch</c>: the router's coalesced PUTs and DELETEs (<see cref="WriteBatchWire"/>),
/// and AspireCache.Client's own (through the router, which passes them to the leader as they are, or
/// in direct mode; those declare their count in <see cref="CacheHeaders.BatchWrites"/>).
/// Not atomic — each write is exactly the request its own <c>PUT</c>/<c>DELETE /cache/{key}</c> would
/// have been: the same handler (<see cref="CacheApi.PutAsync"/>, <see cref="CacheApi.DeleteAsync"/>)
/// runs on a request made of the write's key, query, headers and body, with this request's
/// credential, and its whole answer (status, headers, body — a problem from
/// <see cref="ClusterExceptionHandler"/> included) is this write's part of the batch answer. The
/// writes run concurrently, so the leader's group commit puts them into one log entry; each keeps
/// its own conditions, TTL and <c>Idempotency-Key</c>. A key outside the credential's prefixes is
/// <see cref="WriteBatchWire.Skipped"/> (nothing proposed): the router sends it on its own and the
/// caller gets the node's exact 403. Authenticated like any client write (the caller's credential,
/// write scope); served on the client endpoint.
/// </summary>
public static class WriteBatchApi
{
    /// <summary>Writes one batch may carry (the router sends at most <c>Router:WriteCoalescing:MaxBatchWrites</c>).</summary>
    public const int MaxWrites = 1000;

    /// <summary>The largest batch body (the router's batches carry at most 1 MiB of values by default).</summary>
    public const int MaxBodyBytes = 16 * 1024 * 1024;

    public static IEndpointRouteBuilder MapWriteBatchApi(this IEndpointRouteBuilder app)
    {
        app.MapPost(WriteBatchWire.Path, WriteAsync).RequireScope(Scope.Write).ExcludeFromDescription();
        return app;
    }

    public static async Task<IResult> WriteAsync(HttpContext http, CacheService cache, ClusterView cluster, WriteCoordinator coordinator, IOptions<CacheLimitsOptions> limits, IEnumerable<IExceptionHandler> exceptionHandlers, CancellationToken token)
    {
        if (!string.Equals(http.Request.ContentType, WriteBatchWire.RequestMediaType, StringComparison.OrdinalIgnoreCase))
        {
            return Problems.UnsupportedMediaType("Unsupported media type", $"Send the writes as {WriteBatchWire.RequestMediaType}.");
        }

        var body = await RequestBody.ReadAsync(http.Request, MaxBodyBytes, token);
        if (body is null)
        {
            return Problems.TooLarge($"The batch exceeds the limit of {MaxBodyBytes} bytes.");
        }

        var writes = new List<WriteBatchWire.Write>();
        if (!WriteBatchWire.TryDecodeRequest(body, MaxWrites, writes))
        {
            return Problems.BadRequest("Invalid write batch", $"The body must carry 1 to {MaxWrites} well-formed writes.");
        }

        // A client's batch declares its count (what the router's rate limiter charged): it must be true.
        if (http.Request.Headers[CacheHeaders.BatchWrites] is { Count: > 0 } declared
            && (declared.Count > 1 || !CacheHeaders.TryParseBatchWrites(declared[0], out var count) || count != writes.Count))
        {
            return Problems.BadRequest("Invalid write batch", $"{CacheHeaders.BatchWrites} must be the number of writes the batch carries ({writes.Count}).");
        }

        // Started together (each runs up to its proposal), so that they share the leader's next log entry:
        // the proposer waits for the last of them (a gather) rather than take the first few alone.
        var credential = ClientAuth.CredentialOf(http);
        var handlers = exceptionHandlers as IExceptionHandler[] ?? exceptionHandlers.ToArray();
        var answers = new Task<HttpContext?>[writes.Count];
        using (coordinator.Gather())
        {
            for (var i = 0; i < writes.Count; i++)
            {
                answers[i] = credential is { IsPrefixLimited: true } && !credential.AllowsKey(writes[i].Key)
                    ? Task.FromResult<HttpContext?>(null) // the router sends it alone: the middleware's own 403
                    : RunAsync(http, writes[i], credential, cache, cluster, limits, handlers, token);
            }
        }

        await Task.WhenAll(answers);
        http.Response.ContentType = WriteBatchWire.ResponseMediaType;
        using var output = new MemoryStream();
        foreach (var answer in answers)
        {
            if (answer.Result is not { } write)
            {
                WriteBatchWire.WriteAnswer(output, WriteBatchWire.Skipped, [], default);
                continue;
            }

            var captured = (MemoryStream)write.Response.Body;
            WriteBatchWire.WriteAnswer(output, write.Response.StatusCode, Headers(write.Response.Headers), captured.GetBuffer().AsSpan(0, (int)captured.Length));
        }

        http.Response.ContentLength = output.Length;
        await http.Response.Body.WriteAsync(output.GetBuffer().AsMemory(0, (int)output.Length), token);
        return Results.Empty;
    }

    /// <summary>Runs one write through its own handler on a request of its own, and captures the answer.</summary>
    private static async Task<HttpContext?> RunAsync(
        HttpContext batch,
        WriteBatchWire.Write write,
        ClientCredential? credential,
        CacheService cache,
        ClusterView cluster,
        IOptions<CacheLimitsOptions> limits,
        IExceptionHandler[] handlers,
        CancellationToken token)
    {
        var http = RequestOf(batch, write, credential, cluster);
        try
        {
            var result = write.Method == WriteBatchWire.Put
                ? (await CacheApi.PutAsync(write.Key, http, cache, limits, token)).Result
                : (await CacheApi.DeleteAsync(write.Key, http, cache, limits, token)).Result;
            await result.ExecuteAsync(http);
        }
        catch (Exception ex) when (!token.IsCancellationRequested)
        {
            // What the exception handler middleware does for a PUT of its own: the cluster's problem.
            http.Response.Clear();
            ClusterApi.SetNodeHeaders(http.Response, cluster);
            foreach (var handler in handlers)
            {
                if (await handler.TryHandleAsync(http, ex, token))
                {
                    break;
                }
            }
        }

        return http;
    }

    private static List<KeyValuePair<string, string>> Headers(IHeaderDictionary headers)
    {
        var list = new List<KeyValuePair<string, string>>(headers.Count);
        foreach (var (name, values) in headers)
        {
            if (name.Equals("Content-Length", StringComparison.OrdinalIgnoreCase))
            {
                continue; // the router sets it from the body
            }

            foreach (var value in values)
            {
                list.Add(new(name, value ?? ""));
            }
        }

        return list;
    }

    /// <summary>The request a write would have been on its own: its method, path, query, headers and body; the batch's services, credential and abort token. Its answer is written to a memory stream.</summary>
    private static DefaultHttpContext RequestOf(HttpContext batch, WriteBatchWire.Write write, ClientCredential? credential, ClusterView cluster)
    {
        var http = new DefaultHttpContext
        {
            RequestServices = batch.RequestServices,
            RequestAborted = batch.RequestAborted,
            TraceIdentifier = batch.TraceIdentifier,
        };
        if (credential is not null)
        {
            http.Features.Set(credential);
        }

        var request = http.Request;
        request.Method = write.Method == WriteBatchWire.Put ? HttpMethods.Put : HttpMethods.Delete;
        request.Scheme = batch.Request.Scheme;
        request.Host = batch.Request.Host;
        request.Path = "/cache/" + write.Key;
        request.QueryString = new QueryString(write.Query.Length == 0 ? null : write.Query);
        SetHeader(request.Headers, "If-Match", write.IfMatch);
        SetHeader(request.Headers, "If-None-Match", write.IfNoneMatch);
        SetHeader(request.Headers, CacheHeaders.IdempotencyKey, write.IdempotencyKey);
        SetHeader(request.Headers, "Accept", write.Accept);
        if (write.Method == WriteBatchWire.Put)
        {
            request.ContentLength = write.Body.Length;
            request.Body = System.Runtime.InteropServices.MemoryMarshal.TryGetArray(write.Body, out var segment)
                ? new MemoryStream(segment.Array!, segment.Offset, segment.Count, writable: false)
                : new MemoryStream(write.Body.ToArray(), writable: false);
        }

        http.Response.Body = new MemoryStream();
        ClusterApi.SetNodeHeaders(http.Response, cluster); // as the node's middleware does for every answer
        return http;
    }

    private static void SetHeader(IHeaderDictionary headers, string name, string? value)
    {
        if (value is not null)
        {
            headers[name] = value;
        }
    }
}
