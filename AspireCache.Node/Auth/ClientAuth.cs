using AspireCache.Node.Api;
using AspireCache.Node.Diagnostics;
using Microsoft.AspNetCore.Http.HttpResults;

namespace AspireCache.Node.Auth;

/// <summary>Which keys of a request the credential's prefixes must cover.</summary>
public enum KeyCheck
{
    /// <summary>None (cluster endpoints, admin, or a handler that checks its keys itself: batch).</summary>
    None,

    /// <summary>The <c>{key}</c> route value (<c>GET/PUT/DELETE /cache/{key}</c>).</summary>
    RouteKey,

    /// <summary>The <c>prefix</c> query value (<c>GET /cache?prefix=</c>; absent = every key).</summary>
    ListPrefix,

    /// <summary>Every <c>prefix</c> and <c>key</c> query value (<c>GET /cache/watch</c>).</summary>
    WatchFilters,
}

/// <summary>Endpoint metadata: the scope a request needs and which of its keys the credential must cover.</summary>
public sealed record ScopeRequirement(Scope Scope, KeyCheck Keys = KeyCheck.None);

/// <summary>Endpoint conventions and per-request accessors of client authentication.</summary>
public static class ClientAuth
{
    /// <summary>The credential of this request (after authentication), as a request feature.</summary>
    public static ClientCredential? CredentialOf(HttpContext http) => http.Features.Get<ClientCredential>();

    /// <summary>The name recorded as a write's author: the credential's name, or none when auth is off.</summary>
    public static string? WriterOf(HttpContext http) => CredentialOf(http)?.Name;

    /// <summary>Marks an endpoint as needing <paramref name="scope"/> (when auth is enforced).</summary>
    public static TBuilder RequireScope<TBuilder>(this TBuilder builder, Scope scope, KeyCheck keys = KeyCheck.None)
        where TBuilder : IEndpointConventionBuilder
    {
        var requirement = new ScopeRequirement(scope, keys);
        builder.Add(endpoint => endpoint.Metadata.Add(requirement));
        return builder;
    }

    /// <summary>403 for a key outside the credential's prefixes (a batch's key, checked by its handler).</summary>
    public static ProblemHttpResult OutsidePrefixes(ClientCredential credential, string key) =>
        Problems.Create(
            StatusCodes.Status403Forbidden,
            "forbidden",
            "The credential may not use this key",
            $"Credential '{credential.Name}' is limited to keys under {string.Join(", ", credential.Prefixes.Select(p => $"'{p}'"))}; '{key}' is not.");
}

/// <summary>
/// Client authentication and authorization on the node itself (the router is not the only gate):
/// an endpoint with a <see cref="ScopeRequirement"/> needs <c>Authorization: Bearer &lt;key&gt;</c> of a
/// credential with that scope whose prefixes cover the request's keys. Missing or unknown key →
/// 401 (<c>WWW-Authenticate: Bearer</c>); wrong scope or a key outside the prefixes → 403; both
/// RFC 9457 problems, answered before the body is read. Endpoints without the metadata (health,
/// node-to-node calls, Raft) are not touched. Installed only when auth is enforced.
/// </summary>
internal sealed class ClientAuthMiddleware(RequestDelegate next, CredentialStore credentials, NodeTelemetry telemetry, ILogger<ClientAuthMiddleware> logger)
{
    public Task InvokeAsync(HttpContext context)
    {
        if (context.GetEndpoint()?.Metadata.GetMetadata<ScopeRequirement>() is not { } requirement)
        {
            return next(context);
        }

        var authorization = context.Request.Headers.Authorization;
        var header = authorization.Count == 1 ? authorization[0] : null;
        if (ConnectionCache.Get(context, header) is not { } credential)
        {
            var token = CredentialStore.BearerToken(header);
            if (token.IsEmpty)
            {
                return RefuseAsync(context, StatusCodes.Status401Unauthorized, "unauthenticated", "Authentication required", "Send the credential as 'Authorization: Bearer <key>'.", "Bearer");
            }

            credential = credentials.Authenticate(token);
            if (credential is null)
            {
                return RefuseAsync(context, StatusCodes.Status401Unauthorized, "unauthenticated", "The credential is not valid", "The bearer key is not one this cluster accepts.", "Bearer error=\"invalid_token\"");
            }

            ConnectionCache.Set(context, header!, credential);
        }

        if (!credential.Has(requirement.Scope))
        {
            return RefuseAsync(context, StatusCodes.Status403Forbidden, "forbidden", "The credential lacks the scope", $"Credential '{credential.Name}' does not have the '{ScopeParser.Name(requirement.Scope)}' scope this request needs.", $"Bearer error=\"insufficient_scope\", scope=\"{ScopeParser.Name(requirement.Scope)}\"", credential);
        }

        if (credential.IsPrefixLimited && OutsideKey(context, requirement.Keys, credential) is { } key)
        {
            return RefuseAsync(context, StatusCodes.Status403Forbidden, "forbidden", "The credential may not use this key", $"Credential '{credential.Name}' is limited to keys under {string.Join(", ", credential.Prefixes.Select(p => $"'{p}'"))}; '{key}' is not.", "Bearer error=\"insufficient_scope\"", credential);
        }

        context.Features.Set(credential);
        return next(context);
    }

    /// <summary>
    /// The last credential authenticated on this HTTP/1.1 connection, by the <em>instance</em> of its
    /// header string: Kestrel hands out the same string object when a connection repeats a header
    /// value (its string reuse), so a keep-alive client (the router, a service) pays for the SHA-256
    /// once per connection, not per request (~0.6 µs). A reference comparison reveals nothing about
    /// any key. Not used for HTTP/2, whose streams run concurrently on one connection.
    /// </summary>
    private sealed class ConnectionCache(string header, ClientCredential credential)
    {
        private readonly string _header = header;
        private readonly ClientCredential _credential = credential;

        public static ClientCredential? Get(HttpContext context, string? header)
        {
            if (header is null || !HttpProtocol.IsHttp11(context.Request.Protocol)
                || context.Features.Get<Microsoft.AspNetCore.Connections.Features.IConnectionItemsFeature>()?.Items is not { } items
                || !items.TryGetValue(typeof(ConnectionCache), out var cached))
            {
                return null;
            }

            return cached is ConnectionCache entry && ReferenceEquals(entry._header, header) ? entry._credential : null;
        }

        public static void Set(HttpContext context, string header, ClientCredential credential)
        {
            if (HttpProtocol.IsHttp11(context.Request.Protocol)
                && context.Features.Get<Microsoft.AspNetCore.Connections.Features.IConnectionItemsFeature>()?.Items is { } items)
            {
                items[typeof(ConnectionCache)] = new ConnectionCache(header, credential);
            }
        }
    }

    /// <summary>The first of the request's keys (or prefixes) the credential does not cover, or null.</summary>
    private static string? OutsideKey(HttpContext context, KeyCheck check, ClientCredential credential)
    {
        switch (check)
        {
            case KeyCheck.RouteKey:
                var key = context.Request.RouteValues["key"] as string ?? "";
                return credential.AllowsKey(key) ? null : key;
            case KeyCheck.ListPrefix:
                var prefix = context.Request.Query["prefix"].ToString();
                return credential.AllowsPrefix(prefix) ? null : prefix;
            case KeyCheck.WatchFilters:
                var query = context.Request.Query;
                foreach (var p in query["prefix"])
                {
                    if (!credential.AllowsPrefix(p ?? ""))
                    {
                        return p ?? "";
                    }
                }

                foreach (var k in query["key"])
                {
                    if (!credential.AllowsKey(k ?? ""))
                    {
                        return k ?? "";
                    }
                }

                return null; // (a watch with no filter at all is refused by its handler: 400)
            default:
                return null;
        }
    }

    private async Task RefuseAsync(HttpContext context, int status, string type, string title, string detail, string challenge, ClientCredential? credential = null)
    {
        telemetry.Rejected(type);
        NodeLog.RequestRefused(logger, context.Request.Method, context.Request.Path, status, credential?.Name ?? "(none)");
        context.Response.Headers.WWWAuthenticate = challenge;
        await Problems.Create(status, type, title, detail).ExecuteAsync(context);
    }
}
