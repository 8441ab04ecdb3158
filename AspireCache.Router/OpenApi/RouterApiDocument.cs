using System.Diagnostics;
using System.Text.Json.Nodes;
using AspireCache.Router.Topology;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.Extensions.Options;
using Microsoft.OpenApi;

namespace AspireCache.Router.OpenApi;

/// <summary>
/// The router's <c>/openapi/v1.json</c>: one document for everything the router serves. The node
/// API's document is fetched from a node (healthy and nearest first, as the router's own status
/// calls), kept for <see cref="FreshFor"/> and refreshed on the next request after that (a failed
/// refresh keeps the previous document and is retried after <see cref="RetryAfterFailure"/>), and
/// merged with the router's own document:
/// <list type="bullet">
/// <item>only the node operations the router proxies (<see cref="Routing.ProxyRoutes"/>) are kept:
/// the node-only ones (<c>/cluster/watch</c>, <c>/admin/*</c>, the node's health) are dropped;</item>
/// <item>each proxied operation gains the router's own answers: 429 <c>rate-limited</c> (when rate
/// limiting is on), 503 <c>no-node</c> (no node could serve within <c>Router:RetryDeadline</c>),
/// and, with a body, 413 past the 16 MiB the router forwards;</item>
/// <item>the router's own paths, schemas and tags are added, and <c>servers</c> is the router's
/// own address as the client reached it (spliced into the document rendered once).</item>
/// </list>
/// </summary>
internal sealed class RouterApiDocument(
    IHttpClientFactory httpClientFactory,
    TopologyMonitor monitor,
    IOptions<RouterOptions> options,
    IOptions<RateLimiting.RouterRateLimitOptions> limits,
    IServiceProvider services,
    ILogger<RouterApiDocument> logger)
{
    public static readonly TimeSpan FreshFor = TimeSpan.FromMinutes(5);
    public static readonly TimeSpan RetryAfterFailure = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan FetchTimeout = TimeSpan.FromSeconds(10);

    /// <summary>Where the rendered document has its server URL (a JSON string): spliced in per request.</summary>
    private const string ServerMarker = "\"urn:aspirecache:router-url\"";

    private readonly SemaphoreSlim _gate = new(1, 1);
    private Rendered? _document;
    private long _refreshAt;

    /// <summary>The merged document, with <paramref name="serverUrl"/> (the router's address as the client sees it) as its server; null when no node has answered yet.</summary>
    public async Task<string?> GetJsonAsync(string serverUrl, CancellationToken token) =>
        await GetAsync(token) is { } rendered
            ? string.Concat(rendered.Before, System.Text.Json.JsonSerializer.Serialize(serverUrl), rendered.After)
            : null;

    /// <summary>The merged document rendered once (immutable, shared by every request), or null when no node has answered yet.</summary>
    private async Task<Rendered?> GetAsync(CancellationToken token)
    {
        if (Volatile.Read(ref _document) is { } current && Stopwatch.GetTimestamp() < Volatile.Read(ref _refreshAt))
        {
            return current;
        }

        await _gate.WaitAsync(token);
        try
        {
            if (_document is not null && Stopwatch.GetTimestamp() < _refreshAt)
            {
                return _document;
            }

            var node = await FetchNodeDocumentAsync(token);
            if (node is null)
            {
                _refreshAt = Stopwatch.GetTimestamp() + (long)(RetryAfterFailure.TotalSeconds * Stopwatch.Frequency);
                return _document; // the previous one, if any
            }

            var merged = Render(await MergeAsync(node, token));
            Volatile.Write(ref _document, merged);
            Volatile.Write(ref _refreshAt, Stopwatch.GetTimestamp() + (long)(FreshFor.TotalSeconds * Stopwatch.Frequency));
            return merged;
        }
        finally
        {
            _gate.Release();
        }
    }

    private async Task<JsonObject?> FetchNodeDocumentAsync(CancellationToken aborted)
    {
        var settings = options.Value;
        var client = httpClientFactory.CreateClient(TopologyMonitor.HttpClientName);
        var views = monitor.Current.Nodes;
        var candidates = settings.Nodes
            .OrderBy(n => views.TryGetValue(n, out var v) && v.Healthy ? 0 : 1)
            .ThenBy(n => views.TryGetValue(n, out var v) ? v.LatencyMs : double.MaxValue);
        foreach (var node in candidates)
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(aborted);
            timeout.CancelAfter(FetchTimeout);
            try
            {
                using var response = await client.GetAsync($"{settings.NodeScheme}://{node}/openapi/v1.json", timeout.Token);
                if (response.IsSuccessStatusCode && JsonNode.Parse(await response.Content.ReadAsStringAsync(timeout.Token)) is JsonObject document && document["paths"] is JsonObject)
                {
                    return document;
                }
            }
            catch (Exception ex) when (ex is HttpRequestException or System.Text.Json.JsonException || (ex is OperationCanceledException && !aborted.IsCancellationRequested))
            {
                logger.LogDebug(ex, "Node {Node} did not give its OpenAPI document.", node);
            }
        }

        aborted.ThrowIfCancellationRequested();
        return null;
    }

    private async Task<JsonObject> MergeAsync(JsonObject node, CancellationToken token)
    {
        var own = await services.GetRequiredKeyedService<IOpenApiDocumentProvider>(RouterOpenApi.RouterDocumentName).GetOpenApiDocumentAsync(token);
        var router = JsonNode.Parse(await own.SerializeAsJsonAsync(OpenApiSpecVersion.OpenApi3_1, token))!.AsObject();

        var info = node["info"] as JsonObject ?? [];
        info["title"] = "AspireCache API (router)";
        info["description"] = "Everything this router serves, in one document: the node API's operations it proxies (writes go to the leader, reads to the nearest up-to-date node, watch streams and their progress to the node that serves them; elections and failovers are retried within `Router:RetryDeadline`), with the router's own answers, and the router's own endpoints. The node-only operations (`/cluster/watch`, `/admin/*`) are served by each node on its own address (its `/openapi/v1.json`).\n\n"
            + (info["description"]?.GetValue<string>() ?? "");
        node["info"] = info;

        var paths = node["paths"]!.AsObject();
        foreach (var (path, item) in paths.ToList())
        {
            if (item is not JsonObject operations)
            {
                continue;
            }

            foreach (var (method, operation) in operations.ToList())
            {
                if (!IsMethod(method))
                {
                    continue;
                }

                if (!RouterOpenApi.IsProxied(method, path))
                {
                    operations.Remove(method);
                    continue;
                }

                AddRouterAnswers(operation!.AsObject());
            }

            if (!operations.Any(o => IsMethod(o.Key)))
            {
                paths.Remove(path);
            }
        }

        foreach (var (path, item) in router["paths"]?.AsObject() ?? [])
        {
            paths[path] = item!.DeepClone();
        }

        var components = node["components"] as JsonObject ?? [];
        node["components"] = components;
        foreach (var (section, entries) in router["components"]?.AsObject() ?? [])
        {
            if (components[section] is not JsonObject target)
            {
                components[section] = target = [];
            }

            foreach (var (name, entry) in entries?.AsObject() ?? [])
            {
                if (!target.ContainsKey(name)) // the node's ProblemDetails (with its problem types) wins
                {
                    target[name] = entry!.DeepClone();
                }
            }
        }

        var tags = node["tags"] as JsonArray ?? [];
        node["tags"] = tags;
        foreach (var tag in router["tags"]?.AsArray() ?? [])
        {
            if (!tags.Any(t => t?["name"]?.GetValue<string>() == tag?["name"]?.GetValue<string>()))
            {
                tags.Add(tag!.DeepClone());
            }
        }

        Prune(node);

        // Servers after info, as generated documents have them; the URL itself is spliced in per request.
        var ordered = new JsonObject
        {
            ["openapi"] = node["openapi"]?.DeepClone(),
            ["info"] = info.DeepClone(),
            ["servers"] = new JsonArray(new JsonObject { ["url"] = "urn:aspirecache:router-url" }),
        };
        foreach (var (key, value) in node)
        {
            if (key is not ("openapi" or "info" or "servers"))
            {
                ordered[key] = value?.DeepClone();
            }
        }

        return ordered;
    }

    /// <summary>Drops the tags and schemas only the node-only operations used (e.g. <c>Admin</c>, <c>AdminResult</c>).</summary>
    private static void Prune(JsonObject document)
    {
        var paths = document["paths"]!.AsObject();
        var usedTags = paths.SelectMany(p => p.Value!.AsObject().Where(o => IsMethod(o.Key)))
            .SelectMany(o => o.Value?["tags"]?.AsArray() ?? [])
            .Select(t => t!.GetValue<string>())
            .ToHashSet(StringComparer.Ordinal);
        if (document["tags"] is JsonArray tags)
        {
            foreach (var tag in tags.Where(t => !usedTags.Contains(t?["name"]?.GetValue<string>() ?? "")).ToList())
            {
                tags.Remove(tag);
            }
        }

        if (document["components"]?["schemas"] is not JsonObject schemas)
        {
            return;
        }

        // Schemas referenced from the paths (a $ref, or a reference named in x-event-data), then from those schemas.
        const string prefix = "#/components/schemas/";
        var used = new HashSet<string>(StringComparer.Ordinal);
        var pending = new Stack<JsonNode?>([paths]);
        while (pending.TryPop(out var node))
        {
            switch (node)
            {
                case JsonObject obj:
                    foreach (var (_, child) in obj)
                    {
                        pending.Push(child);
                    }

                    break;
                case JsonArray array:
                    foreach (var child in array)
                    {
                        pending.Push(child);
                    }

                    break;
                case JsonValue value when value.TryGetValue<string>(out var text) && text.StartsWith(prefix, StringComparison.Ordinal)
                    && used.Add(text[prefix.Length..]) && schemas[text[prefix.Length..]] is { } schema:
                    pending.Push(schema);
                    break;
            }
        }

        foreach (var name in schemas.Select(s => s.Key).Where(n => !used.Contains(n)).ToList())
        {
            schemas.Remove(name);
        }
    }

    private static Rendered Render(JsonObject document)
    {
        var json = document.ToJsonString();
        var at = json.IndexOf(ServerMarker, StringComparison.Ordinal);
        return new Rendered(json[..at], json[(at + ServerMarker.Length)..]);
    }

    private sealed record Rendered(string Before, string After);

    /// <summary>The answers the router itself gives on a proxied operation.</summary>
    private void AddRouterAnswers(JsonObject operation)
    {
        var responses = operation["responses"] as JsonObject ?? [];
        operation["responses"] = responses;
        if (limits.Value.Enabled)
        {
            responses["429"] = RouterOpenApi.ProblemResponse(RouterDocumentTransformer.RateLimitedDescription, [ProblemTypes.RateLimited], RouterOpenApi.RetryAfterHeader());
        }

        const string noNode = "Through the router: no node could serve the request within `Router:RetryDeadline` (`no-node`, or `no-leader` for a write), or a write's outcome is unknown after a failover (`timeout`: retry with the same `Idempotency-Key`).";
        Extend(responses, "503", noNode, [ProblemTypes.NoNode, ProblemTypes.NoLeader, ProblemTypes.Timeout], RouterOpenApi.RetryAfterHeader());
        if (operation.ContainsKey("requestBody"))
        {
            // RetryingProxySteps buffers at most 16 MiB of a body (to send it again on a retry).
            Extend(responses, "413", "Through the router: the body is over the 16 MiB the router forwards.", [ProblemTypes.TooLarge], null);
        }

        // Keep the status codes in order (a 429 added after the 5xx reads oddly).
        var ordered = responses.OrderBy(r => r.Key, StringComparer.Ordinal).ToList();
        responses.Clear();
        foreach (var (status, response) in ordered)
        {
            responses[status] = response;
        }
    }

    private static void Extend(JsonObject responses, string status, string description, string[] types, JsonObject? headers)
    {
        if (responses[status] is not JsonObject response)
        {
            responses[status] = RouterOpenApi.ProblemResponse(description, types, headers);
            return;
        }

        var listed = response["x-problem-types"] as JsonArray ?? [];
        response["x-problem-types"] = listed;
        var added = types.Where(t => !listed.Any(l => l?.GetValue<string>() == t)).ToArray();
        foreach (var type in added)
        {
            listed.Add(type);
        }

        var text = response["description"]?.GetValue<string>() ?? "";
        response["description"] = $"{text}\n\n{description}" + (added.Length == 0 ? "" : $" Problem types: {string.Join(", ", added.Select(t => $"`{t}`"))}.");
        if (headers is not null)
        {
            var target = response["headers"] as JsonObject ?? [];
            response["headers"] = target;
            foreach (var (name, header) in headers)
            {
                if (!target.ContainsKey(name))
                {
                    target[name] = header!.DeepClone();
                }
            }
        }
    }

    private static bool IsMethod(string key) =>
        key is "get" or "put" or "post" or "delete" or "patch" or "head" or "options" or "trace";
}
