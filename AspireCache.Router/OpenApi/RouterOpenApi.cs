using System.Globalization;
using System.Text.Json.Nodes;
using AspireCache.Router.RateLimiting;
using AspireCache.Router.Routing;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.AspNetCore.Routing.Patterns;
using Microsoft.Extensions.Options;
using Microsoft.OpenApi;
using Scalar.AspNetCore;

namespace AspireCache.Router.OpenApi;

/// <summary>
/// The router's OpenAPI documents and API reference page, in every environment, anonymous:
/// <list type="bullet">
/// <item><c>/openapi/v1.json</c>: everything this base URL serves, in one document (what client
/// generators expect): the node API's operations the router proxies (fetched from a node, see
/// <see cref="RouterApiDocument"/>), each with the router's own answers added (429
/// <c>rate-limited</c>, 503 <c>no-node</c>, 413 for bodies over what it forwards), plus the
/// router's own endpoints (<c>/router/topology</c>, health).</item>
/// <item><c>/openapi/router.json</c>: the router's own endpoints only (generated here).</item>
/// <item><c>/scalar/v1</c>: the reference page for <c>/openapi/v1.json</c>.</item>
/// </list>
/// </summary>
internal static class RouterOpenApi
{
    public const string DocumentPath = "/openapi/v1.json";
    public const string RouterDocumentName = "router";
    public const string Tag = "Router";
    public const string ProblemJson = "application/problem+json";

    public static IServiceCollection AddRouterOpenApi(this IServiceCollection services)
    {
        services.AddOpenApi(RouterDocumentName, options =>
        {
            options.AddOperationTransformer<RouterOperationTransformer>();
            options.AddDocumentTransformer<RouterDocumentTransformer>();
        });
        services.AddSingleton<RouterApiDocument>();
        return services;
    }

    public static WebApplication MapRouterOpenApi(this WebApplication app)
    {
        app.MapGet(DocumentPath, async (HttpContext http, RouterApiDocument documents, IOptions<RouterOptions> options) =>
        {
            // The router's own address: clients generated from this document talk to the router.
            var request = http.Request;
            if (await documents.GetJsonAsync($"{request.Scheme}://{request.Host}{request.PathBase}/", http.RequestAborted) is not { } document)
            {
                http.Response.Headers.RetryAfter = options.Value.RetryAfterSeconds.ToString(CultureInfo.InvariantCulture);
                return Results.Problem(
                    type: ProblemTypes.NoNode,
                    title: "No node is available",
                    detail: "The router builds its document from a node's, and no node answered. Retry after the indicated delay; /openapi/router.json describes the router's own endpoints meanwhile.",
                    statusCode: StatusCodes.Status503ServiceUnavailable);
            }

            return Results.Text(document, "application/json; charset=utf-8");
        }).ExcludeFromDescription();
        app.MapOpenApi(); // /openapi/router.json (the literal /openapi/v1.json above takes precedence)
        // As the nodes' page: self-contained, no CDN fonts, no telemetry, no AI agent or MCP.
        app.MapScalarApiReference("/scalar", options => options
            .WithTitle("AspireCache API (router)")
            .AddDocument("v1", "AspireCache API (router)")
            .DisableDefaultFonts()
            .DisableTelemetry()
            .DisableAgent()
            .DisableMcp()
            .HideDeveloperTools()
            .ShowOperationId()
            .WithShowExtensions(["x-problem-types", "x-event-data"])
            .AddPreferredSecuritySchemes("bearer"));
        return app;
    }

    /// <summary>Attaches the description of a problem answer (status, meaning, types) to an endpoint of the router.</summary>
    public static RouteHandlerBuilder Problem(this RouteHandlerBuilder builder, int status, string description, params string[] types) =>
        builder.ProducesProblem(status).WithMetadata(new RouterProblemDoc(status, description, types));

    /// <summary>Whether the router proxies <paramref name="method"/> <paramref name="path"/> (an OpenAPI path template such as <c>/cache/{key}</c>).</summary>
    public static bool IsProxied(string method, string path) =>
        ProxyRoutes.Routes.Any(r => (r.Match.Methods is null || r.Match.Methods.Contains(method, StringComparer.OrdinalIgnoreCase))
            && r.Match.Path is { } pattern && Matches(RoutePatternFactory.Parse(pattern), path));

    private static bool Matches(RoutePattern pattern, string path)
    {
        var segments = path.Split('/', StringSplitOptions.RemoveEmptyEntries);
        var i = 0;
        foreach (var segment in pattern.PathSegments)
        {
            switch (segment.Parts)
            {
                case [RoutePatternParameterPart { IsCatchAll: true }]:
                    return true;
                case var _ when i >= segments.Length:
                    return false;
                case [RoutePatternLiteralPart literal] when string.Equals(literal.Content, segments[i], StringComparison.OrdinalIgnoreCase):
                case [RoutePatternParameterPart]:
                    i++;
                    continue;
                default:
                    return false;
            }
        }

        return i == segments.Length;
    }

    /// <summary>An RFC 9457 problem answer referencing the document's <c>ProblemDetails</c> schema (JSON).</summary>
    public static JsonObject ProblemResponse(string description, IEnumerable<string> types, JsonObject? headers = null)
    {
        var list = types.ToArray();
        var response = new JsonObject
        {
            ["description"] = $"{description}\n\nProblem types: {string.Join(", ", list.Select(t => $"`{t}`"))}.",
        };
        if (headers is not null)
        {
            response["headers"] = headers;
        }

        response["content"] = new JsonObject { [ProblemJson] = new JsonObject { ["schema"] = new JsonObject { ["$ref"] = "#/components/schemas/ProblemDetails" } } };
        response["x-problem-types"] = new JsonArray([.. list.Select(t => JsonValue.Create(t))]);
        return response;
    }

    public static JsonObject RetryAfterHeader() => new()
    {
        ["Retry-After"] = new JsonObject
        {
            ["description"] = "Seconds to wait before retrying.",
            ["schema"] = new JsonObject { ["type"] = "integer", ["format"] = "int32" },
        },
    };
}

/// <summary>Endpoint metadata: what a problem answer of a router endpoint means and which types it carries.</summary>
internal sealed record RouterProblemDoc(int Status, string Description, string[] Types);

/// <summary>Endpoint metadata: the description of a (success) answer of a router endpoint.</summary>
internal sealed record RouterResponseDoc(int Status, string Description);

/// <summary>The router's own operations: problem descriptions and types; 429 on rate-limited endpoints; the bearer scheme.</summary>
internal sealed class RouterOperationTransformer(IOptions<RouterRateLimitOptions> limits) : IOpenApiOperationTransformer
{
    public Task TransformAsync(OpenApiOperation operation, OpenApiOperationTransformerContext context, CancellationToken cancellationToken)
    {
        var document = context.Document!;
        var metadata = context.Description.ActionDescriptor.EndpointMetadata;
        operation.Responses ??= [];
        var problems = metadata.OfType<RouterProblemDoc>().ToList();
        if (limits.Value.Enabled && metadata.OfType<RateLimitedEndpoint>().Any())
        {
            problems.Add(new RouterProblemDoc(StatusCodes.Status429TooManyRequests, RouterDocumentTransformer.RateLimitedDescription, [ProblemTypes.RateLimited]));
        }

        foreach (var problem in problems)
        {
            var key = problem.Status.ToString(CultureInfo.InvariantCulture);
            var response = operation.Responses.TryGetValue(key, out var existing) && existing is OpenApiResponse r ? r : new OpenApiResponse();
            operation.Responses[key] = response;
            response.Description = $"{problem.Description}\n\nProblem types: {string.Join(", ", problem.Types.Select(t => $"`{t}`"))}.";
            response.Content = new Dictionary<string, OpenApiMediaType> { [RouterOpenApi.ProblemJson] = new OpenApiMediaType { Schema = new OpenApiSchemaReference("ProblemDetails", document) } };
            response.Extensions ??= new Dictionary<string, IOpenApiExtension>();
            response.Extensions["x-problem-types"] = new JsonNodeExtension(new JsonArray([.. problem.Types.Select(t => JsonValue.Create(t))]));
            if (problem.Status is StatusCodes.Status429TooManyRequests or StatusCodes.Status503ServiceUnavailable)
            {
                response.Headers ??= new Dictionary<string, IOpenApiHeader>();
                response.Headers["Retry-After"] = new OpenApiHeader { Description = "Seconds to wait before retrying.", Schema = new OpenApiSchema { Type = JsonSchemaType.Integer, Format = "int32" } };
            }

            if (problem.Status is StatusCodes.Status401Unauthorized or StatusCodes.Status403Forbidden)
            {
                operation.Security ??= [];
                if (operation.Security.Count == 0)
                {
                    operation.Security.Add(new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference("bearer", document)] = [] });
                }
            }
        }

        foreach (var described in metadata.OfType<RouterResponseDoc>())
        {
            if (operation.Responses.TryGetValue(described.Status.ToString(CultureInfo.InvariantCulture), out var response) && response is OpenApiResponse r)
            {
                r.Description = described.Description;
            }
        }

        // In status order (the 429 was added last).
        var ordered = operation.Responses.OrderBy(r => r.Key, StringComparer.Ordinal).ToList();
        operation.Responses.Clear();
        foreach (var (key, value) in ordered)
        {
            operation.Responses[key] = value;
        }

        return Task.CompletedTask;
    }
}

/// <summary>The router document's title, the bearer scheme, and the health endpoints (not in the API explorer).</summary>
internal sealed class RouterDocumentTransformer(EndpointDataSource endpoints) : IOpenApiDocumentTransformer
{
    public const string RateLimitedDescription = "The caller (its credential, or its address without one) is over the router's request rate (`Router:RateLimit`); nothing reached a node. Retry after `Retry-After` seconds.";

    public async Task TransformAsync(OpenApiDocument document, OpenApiDocumentTransformerContext context, CancellationToken cancellationToken)
    {
        document.Info = new OpenApiInfo
        {
            Title = "AspireCache router",
            Version = "v1",
            Description = "The router's own endpoints. `/openapi/v1.json` on the router describes everything it serves: these and the node API it proxies.",
        };
        document.Components ??= new OpenApiComponents();
        document.Components.SecuritySchemes ??= new Dictionary<string, IOpenApiSecurityScheme>();
        document.Components.SecuritySchemes["bearer"] = new OpenApiSecurityScheme
        {
            Type = SecuritySchemeType.Http,
            Scheme = "bearer",
            Description = "An API key of the cluster as `Authorization: Bearer <key>` (the router forwards it; the nodes check it). Only when the cluster enforces authentication.",
        };
        document.Components.Schemas ??= new Dictionary<string, IOpenApiSchema>();
        if (!document.Components.Schemas.ContainsKey("ProblemDetails"))
        {
            document.AddComponent("ProblemDetails", await context.GetOrCreateSchemaAsync(typeof(Microsoft.AspNetCore.Mvc.ProblemDetails), null, cancellationToken));
        }

        var health = endpoints.Endpoints.OfType<RouteEndpoint>()
            .Select(e => e.RoutePattern.RawText)
            .Where(p => p is Microsoft.Extensions.Hosting.Extensions.HealthEndpointPath or Microsoft.Extensions.Hosting.Extensions.AlivenessEndpointPath)
            .Distinct()
            .ToList();
        if (health.Count == 0)
        {
            return;
        }

        document.Paths ??= [];
        document.Tags ??= new HashSet<OpenApiTag>();
        if (!document.Tags.Any(t => t.Name == "Health"))
        {
            document.Tags.Add(new OpenApiTag { Name = "Health", Description = "Liveness and readiness probes (anonymous, plain text)." });
        }

        foreach (var path in health)
        {
            var readiness = path == Microsoft.Extensions.Hosting.Extensions.HealthEndpointPath;
            document.Paths[path!] = new OpenApiPathItem
            {
                Operations = new Dictionary<HttpMethod, OpenApiOperation>
                {
                    [HttpMethod.Get] = new OpenApiOperation
                    {
                        OperationId = readiness ? "GetRouterHealth" : "GetRouterAlive",
                        Summary = readiness ? "Router readiness" : "Router liveness",
                        Description = readiness
                            ? "`Healthy` (a leader is known), `Degraded` (nodes reachable, no leader known; 200) or `Unhealthy` (no node reachable; 503). Anonymous, not rate limited."
                            : "200 while the router process runs. Anonymous, not rate limited.",
                        Tags = new HashSet<OpenApiTagReference> { new("Health", document) },
                        Responses = new OpenApiResponses
                        {
                            ["200"] = PlainText("`Healthy` or `Degraded (reasons)`."),
                            ["503"] = PlainText("`Unhealthy (reasons)`: plain text, not a problem (probes read the status)."),
                        },
                    },
                },
            };
        }
    }

    private static OpenApiResponse PlainText(string description) => new()
    {
        Description = description,
        Content = new Dictionary<string, OpenApiMediaType> { ["text/plain"] = new OpenApiMediaType { Schema = new OpenApiSchema { Type = JsonSchemaType.String } } },
    };
}
