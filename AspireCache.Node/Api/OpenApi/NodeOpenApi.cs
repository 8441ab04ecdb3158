using System.Text;
using System.Text.Json.Nodes;
using AspireCache.Node.Auth;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.OpenApi;
using Scalar.AspNetCore;

namespace AspireCache.Node.Api.OpenApi;

/// <summary>
/// The node's OpenAPI document (<c>/openapi/v1.json</c>, Microsoft.AspNetCore.OpenApi) and API
/// reference page (<c>/scalar/v1</c>, Scalar), served in every environment and anonymously (client
/// authentication applies only to endpoints with a <see cref="ScopeRequirement"/>), on the client
/// endpoint only (<see cref="PeerEndpointMiddleware"/>). The document is generated when asked for;
/// nothing here runs on an API request.
/// </summary>
public static class NodeOpenApi
{
    public const string DocumentName = "v1";
    public const string DocumentPath = "/openapi/v1.json";
    public const string ReferencePath = "/scalar";
    public const string ProblemSchema = "ProblemDetails";
    public const string BearerScheme = "bearer";
    public const string ProblemJson = "application/problem+json";

    public static IServiceCollection AddNodeOpenApi(this IServiceCollection services) =>
        services.AddOpenApi(DocumentName, options =>
        {
            // Test-only fault injection (Faults) is no part of the API.
            options.ShouldInclude = d => (d.GroupName is null || d.GroupName == DocumentName)
                && d.RelativePath?.StartsWith("admin/faults", StringComparison.OrdinalIgnoreCase) != true;
            options.AddSchemaTransformer(static (schema, _, _) =>
            {
                // The web JSON defaults also read numbers from strings ("42"), which the generator
                // documents as integer-or-string with a pattern; the API writes numbers, and clients
                // should send numbers: document plain numbers (generated clients get long, not string).
                if (schema.Type is { } type && type.HasFlag(JsonSchemaType.String) && (type.HasFlag(JsonSchemaType.Integer) || type.HasFlag(JsonSchemaType.Number)))
                {
                    schema.Type = type & ~JsonSchemaType.String;
                    schema.Pattern = null;
                }

                return Task.CompletedTask;
            });
            options.AddOperationTransformer<NodeOperationTransformer>();
            options.AddDocumentTransformer<NodeDocumentTransformer>();
        });

    public static WebApplication MapNodeOpenApi(this WebApplication app)
    {
        app.MapOpenApi(); // /openapi/{documentName}.json
        // Self-contained: the script is served from the package; no CDN fonts, no telemetry, no AI
        // agent or MCP features that would send the document to a third party.
        app.MapScalarApiReference(ReferencePath, options => options
            .WithTitle("AspireCache node API")
            .AddDocument(DocumentName, "AspireCache node API")
            .DisableDefaultFonts()
            .DisableTelemetry()
            .DisableAgent()
            .DisableMcp()
            .HideDeveloperTools()
            .ShowOperationId()
            .WithShowExtensions(["x-problem-types", "x-event-data"])
            .AddPreferredSecuritySchemes(BearerScheme));
        return app;
    }

    /// <summary>The reference to the shared <c>ProblemDetails</c> schema.</summary>
    internal static OpenApiSchemaReference ProblemReference(OpenApiDocument document) => new(ProblemSchema, document);

    /// <summary>Adds the schema of <paramref name="type"/> to the components (once) and returns a reference to it.</summary>
    internal static async Task<IOpenApiSchema> ComponentAsync(OpenApiDocument document, Type type, Func<Type, Task<OpenApiSchema>> create)
    {
        var id = type.Name;
        document.Components ??= new OpenApiComponents();
        document.Components.Schemas ??= new Dictionary<string, IOpenApiSchema>();
        if (!document.Components.Schemas.ContainsKey(id))
        {
            document.AddComponent(id, await create(type));
        }

        return new OpenApiSchemaReference(id, document);
    }
}

/// <summary>
/// Adds to every operation what its endpoint's metadata implies: the <see cref="OperationDoc"/>
/// (parameters the handler parses itself, a raw or hand-parsed body, answers, headers, problem
/// types); a <see cref="ScopeRequirement"/> → the <c>bearer</c> security requirement and 401/403;
/// <see cref="OperationDoc.ClusterBacked"/> → 421/503 with their headers; 500 everywhere. Every
/// error answer is an <c>application/problem+json</c> <c>ProblemDetails</c> whose description
/// names its problem types (also as <c>x-problem-types</c>).
/// </summary>
internal sealed class NodeOperationTransformer : IOpenApiOperationTransformer
{
    public async Task TransformAsync(OpenApiOperation operation, OpenApiOperationTransformerContext context, CancellationToken cancellationToken)
    {
        var document = context.Document ?? throw new InvalidOperationException("No document.");
        var metadata = context.Description.ActionDescriptor.EndpointMetadata;
        var doc = metadata.OfType<OperationDoc>().LastOrDefault() ?? new OperationDoc();
        var scope = metadata.OfType<ScopeRequirement>().LastOrDefault();
        operation.Responses ??= [];

        foreach (var parameter in doc.Parameters)
        {
            operation.Parameters ??= [];
            if (operation.Parameters.OfType<OpenApiParameter>().FirstOrDefault(p => p.Name == parameter.Name && p.In == parameter.In) is { } existing)
            {
                existing.Description = parameter.Description;
                existing.Example = parameter.Example is null ? existing.Example : JsonValue.Create(parameter.Example);
                if (parameter.In == ParameterLocation.Path && parameter.Repeatable)
                {
                    existing.Extensions ??= new Dictionary<string, IOpenApiExtension>();
                    existing.Extensions["x-ms-reserved-parameter"] = new JsonNodeExtension(JsonValue.Create(true));
                }

                continue;
            }

            IOpenApiSchema schema = parameter.Repeatable
                ? new OpenApiSchema { Type = JsonSchemaType.Array, Items = new OpenApiSchema { Type = parameter.Type, Format = parameter.Format } }
                : new OpenApiSchema { Type = parameter.Type, Format = parameter.Format };
            operation.Parameters.Add(new OpenApiParameter
            {
                Name = parameter.Name,
                In = parameter.In,
                Description = parameter.Description,
                Required = parameter.Required,
                Schema = schema,
                Explode = parameter.In == ParameterLocation.Query, // form style: repeat the name for each value
                Example = parameter.Example is null ? null : JsonValue.Create(parameter.Example),
            });
        }

        if (doc.Body is { } body)
        {
            var schema = body.JsonType is { } type
                ? await NodeOpenApi.ComponentAsync(document, type, t => GetSchemaAsync(context, t, cancellationToken))
                : new OpenApiSchema { Type = JsonSchemaType.String, Format = "binary" };
            operation.RequestBody = new OpenApiRequestBody
            {
                Required = body.JsonType is not null,
                Description = body.Description,
                Content = new Dictionary<string, OpenApiMediaType> { [body.ContentType] = new OpenApiMediaType { Schema = schema } },
            };
        }

        if (doc.EventTypes.Count > 0)
        {
            var events = new JsonObject();
            foreach (var type in doc.EventTypes)
            {
                await NodeOpenApi.ComponentAsync(document, type, t => GetSchemaAsync(context, t, cancellationToken));
                events[type.Name] = $"#/components/schemas/{type.Name}";
            }

            operation.Extensions ??= new Dictionary<string, IOpenApiExtension>();
            operation.Extensions["x-event-data"] = new JsonNodeExtension(events);
        }

        // Every answer, from the typed results, the OperationDoc and the metadata-implied errors.
        // (Copies: the metadata is shared by every generation of the document and stays as built.)
        var responses = doc.Responses.ToDictionary(r => r.Key, r => r.Value.Copy());
        if (scope is not null)
        {
            var name = ScopeParser.Name(scope.Scope);
            operation.Security ??= [];
            operation.Security.Add(new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference(NodeOpenApi.BearerScheme, document)] = [] });
            Add(responses, StatusCodes.Status401Unauthorized, "No credential, or one the cluster does not accept (only when the cluster enforces authentication).", ProblemTypes.Unauthenticated)
                .Headers.Add(new HeaderDoc("WWW-Authenticate", "`Bearer`, or `Bearer error=\"invalid_token\"` for an unknown key.", JsonSchemaType.String));
            var keys = scope.Keys == KeyCheck.None ? "" : ", or a key (prefix) of the request is outside the credential's prefixes";
            Add(responses, StatusCodes.Status403Forbidden, $"The credential lacks the `{name}` scope{keys}.", ProblemTypes.Forbidden)
                .Headers.Add(new HeaderDoc("WWW-Authenticate", $"`Bearer error=\"insufficient_scope\", scope=\"{name}\"`.", JsonSchemaType.String));
            operation.Description = Append(operation.Description, $"Needs the `{name}` scope when the cluster enforces authentication (`Authorization: Bearer <key>`).");
        }

        if (doc.Cluster != ClusterErrors.None)
        {
            var when = doc.ClusterCondition is null ? "" : $" ({doc.ClusterCondition})";
            if (doc.Cluster == ClusterErrors.Write)
            {
                var misdirected = Add(responses, StatusCodes.Status421MisdirectedRequest, $"This node is not the leader{when}: send the request to the leader named in the headers (the router does this for you). `leadership-lost`: the outcome is unknown; retry with the same `Idempotency-Key`.", ProblemTypes.NotLeader, ProblemTypes.LeadershipLost);
                misdirected.Headers.Add(new HeaderDoc(CacheHeaders.Leader, "The leader's node id (when one is known).", JsonSchemaType.String));
                misdirected.Headers.Add(new HeaderDoc(CacheHeaders.LeaderUrl, "The leader's base URL (when one is known).", JsonSchemaType.String));
            }

            Add(responses, StatusCodes.Status503ServiceUnavailable, $"The cluster cannot serve this now{when}: no leader, too much work waiting, or no answer in time. Retry after `Retry-After`.", ProblemTypes.NoLeader, ProblemTypes.Overloaded, ProblemTypes.Timeout);
        }

        if (responses.TryGetValue(StatusCodes.Status503ServiceUnavailable, out var unavailable) && !unavailable.Headers.Any(h => h.Name == "Retry-After"))
        {
            unavailable.Headers.Add(new HeaderDoc("Retry-After", "Seconds to wait before retrying.", JsonSchemaType.Integer, "int32"));
        }

        Add(responses, StatusCodes.Status500InternalServerError, "An unexpected error (logged on the node).", ProblemTypes.Internal);

        foreach (var (status, described) in responses.OrderBy(r => r.Key))
        {
            // A 304 is published as the range 3XX (its description says 304): Kiota generates a
            // method without a result for an operation with a 304 and a binary 200, and the value
            // of GET /cache/{key} would be lost to its users. NSwag reads both alike.
            var key = status == StatusCodes.Status304NotModified ? "3XX" : status.ToString(System.Globalization.CultureInfo.InvariantCulture);
            if (!operation.Responses.TryGetValue(key, out var existing) || existing is not OpenApiResponse response)
            {
                response = new OpenApiResponse();
                operation.Responses[key] = response;
            }

            if (described.Descriptions.Count > 0)
            {
                response.Description = string.Join(" ", described.Descriptions);
            }

            if (status >= 400)
            {
                var types = described.ProblemTypes.Distinct(StringComparer.Ordinal).ToArray();
                response.Description = Append(response.Description, "Problem types: " + string.Join(", ", types.Select(t => $"`{t}`")) + ".");
                response.Content = new Dictionary<string, OpenApiMediaType> { [NodeOpenApi.ProblemJson] = new OpenApiMediaType { Schema = NodeOpenApi.ProblemReference(document) } };
                response.Extensions ??= new Dictionary<string, IOpenApiExtension>();
                response.Extensions["x-problem-types"] = new JsonNodeExtension(new JsonArray([.. types.Select(t => JsonValue.Create(t))]));
            }
            else if (described.ContentType is { } contentType)
            {
                response.Content = new Dictionary<string, OpenApiMediaType>
                {
                    [contentType] = new OpenApiMediaType { Schema = new OpenApiSchema { Type = JsonSchemaType.String, Format = described.Format } },
                };
            }

            foreach (var header in described.Headers)
            {
                response.Headers ??= new Dictionary<string, IOpenApiHeader>();
                response.Headers[header.Name] = new OpenApiHeader { Description = header.Description, Schema = new OpenApiSchema { Type = header.Type, Format = header.Format } };
            }
        }

        // Typed results without a described answer still get a description, and any error the
        // framework added on its own (none today) is still a problem.
        foreach (var (key, value) in operation.Responses)
        {
            if (value is OpenApiResponse response && key.Length == 3 && key[0] is '4' or '5' && response.Content?.ContainsKey(NodeOpenApi.ProblemJson) != true)
            {
                response.Content = new Dictionary<string, OpenApiMediaType> { [NodeOpenApi.ProblemJson] = new OpenApiMediaType { Schema = NodeOpenApi.ProblemReference(document) } };
            }
        }
    }

    private static async Task<OpenApiSchema> GetSchemaAsync(OpenApiOperationTransformerContext context, Type type, CancellationToken token) =>
        (OpenApiSchema)await context.GetOrCreateSchemaAsync(type, null, token);

    private static ResponseDoc Add(Dictionary<int, ResponseDoc> responses, int status, string description, params string[] types)
    {
        if (!responses.TryGetValue(status, out var response))
        {
            responses[status] = response = new ResponseDoc();
        }

        response.Descriptions.Add(description);
        response.ProblemTypes.AddRange(types);
        return response;
    }

    private static string Append(string? text, string sentence) => string.IsNullOrEmpty(text) ? sentence : $"{text}\n\n{sentence}";
}

/// <summary>
/// The document as a whole: its title and description (authentication, consistency, headers,
/// every problem type), the <c>bearer</c> security scheme, the problem types on the
/// <c>ProblemDetails</c> schema, tag descriptions, and the health endpoints (mapped by the service
/// defaults, outside the API explorer).
/// </summary>
internal sealed class NodeDocumentTransformer(EndpointDataSource endpoints) : IOpenApiDocumentTransformer
{
    private static readonly Dictionary<string, string> TagDescriptions = new(StringComparer.Ordinal)
    {
        [NodeApiTags.Keys] = "Read, write, delete and list keys. Values are opaque bytes; every write is committed through the Raft log.",
        [NodeApiTags.Batch] = "Atomic multi-key writes with per-key version conditions.",
        [NodeApiTags.Watch] = "Change streams (Server-Sent Events) with resume, and on-demand progress.",
        [NodeApiTags.HotKeys] = "This node's hottest keys, and near-cache hit reports.",
        [NodeApiTags.Cluster] = "The cluster as this node sees it: members, leader, term, indexes.",
        [NodeApiTags.Admin] = "Operator actions (the `admin` scope).",
        [NodeApiTags.Health] = "Liveness and readiness probes (anonymous, plain text).",
    };

    public async Task TransformAsync(OpenApiDocument document, OpenApiDocumentTransformerContext context, CancellationToken cancellationToken)
    {
        document.Info = new OpenApiInfo
        {
            Title = "AspireCache node API",
            Version = "v1",
            Description = Description(),
        };

        document.Components ??= new OpenApiComponents();
        document.Components.SecuritySchemes ??= new Dictionary<string, IOpenApiSecurityScheme>();
        document.Components.SecuritySchemes[NodeOpenApi.BearerScheme] = new OpenApiSecurityScheme
        {
            Type = SecuritySchemeType.Http,
            Scheme = "bearer",
            Description = "An API key of the cluster (`Auth:Credentials`) as `Authorization: Bearer <key>`, with the scope each operation names. Only when the cluster enforces authentication; otherwise every request is accepted.",
        };

        document.Components.Schemas ??= new Dictionary<string, IOpenApiSchema>();
        if (!document.Components.Schemas.TryGetValue(NodeOpenApi.ProblemSchema, out var problem))
        {
            problem = await context.GetOrCreateSchemaAsync(typeof(ProblemDetails), null, cancellationToken);
            document.AddComponent(NodeOpenApi.ProblemSchema, problem);
        }

        if (problem is OpenApiSchema schema)
        {
            schema.Description = "An RFC 9457 problem. `type` is stable: clients switch on it. Some types add members (`key`, `currentVersion`, `currentRevision`, `oldestRevision`).";
            schema.Extensions ??= new Dictionary<string, IOpenApiExtension>();
            schema.Extensions["x-problem-types"] = new JsonNodeExtension(new JsonArray([.. ProblemCatalog.All.Select(p => new JsonObject
            {
                ["type"] = p.Type,
                ["status"] = p.Statuses,
                ["description"] = p.Meaning,
            })]));
            if (schema.Properties?.TryGetValue("type", out var type) == true && type is OpenApiSchema typeSchema)
            {
                typeSchema.Description = "The problem type URI, one of: " + string.Join(", ", ProblemCatalog.All.Select(p => $"`{p.Type}`")) + ".";
            }
        }

        AddHealth(document);
        HoistReservedParameters(document);

        foreach (var tag in document.Tags ?? new HashSet<OpenApiTag>())
        {
            if (tag.Name is { } name && TagDescriptions.TryGetValue(name, out var description))
            {
                tag.Description = description;
            }
        }
    }

    /// <summary>
    /// Moves a reserved path parameter (<c>x-ms-reserved-parameter</c>: the key of
    /// <c>/cache/{key}</c>) that every operation of a path shares to the path item: Kiota honours the
    /// extension there (a <c>{+key}</c> template, <c>/</c> sent as is) but not on an operation's own parameter.
    /// </summary>
    private static void HoistReservedParameters(OpenApiDocument document)
    {
        foreach (var item in document.Paths?.Values.OfType<OpenApiPathItem>() ?? [])
        {
            var operations = item.Operations?.Values.ToList() ?? [];
            var reserved = operations.SelectMany(o => o.Parameters ?? []).OfType<OpenApiParameter>()
                .Where(p => p.In == ParameterLocation.Path && p.Extensions?.ContainsKey("x-ms-reserved-parameter") == true)
                .Select(p => p.Name)
                .Distinct()
                .ToList();
            foreach (var name in reserved)
            {
                var shared = operations.Select(o => o.Parameters?.OfType<OpenApiParameter>().FirstOrDefault(p => p.In == ParameterLocation.Path && p.Name == name)).ToList();
                if (shared.Any(p => p is null))
                {
                    continue;
                }

                foreach (var operation in operations)
                {
                    operation.Parameters!.Remove(operation.Parameters.OfType<OpenApiParameter>().First(p => p.In == ParameterLocation.Path && p.Name == name));
                }

                item.Parameters ??= [];
                item.Parameters.Add(shared[0]!);
            }
        }
    }

    /// <summary><c>/health</c> and <c>/alive</c> (service defaults), when mapped: not route handlers, so not in the API explorer.</summary>
    private void AddHealth(OpenApiDocument document)
    {
        var paths = endpoints.Endpoints.OfType<RouteEndpoint>()
            .Select(e => e.RoutePattern.RawText)
            .Where(p => p is Microsoft.Extensions.Hosting.Extensions.HealthEndpointPath or Microsoft.Extensions.Hosting.Extensions.AlivenessEndpointPath)
            .Distinct()
            .ToList();
        if (paths.Count == 0)
        {
            return;
        }

        document.Paths ??= [];
        var tag = new OpenApiTagReference(NodeApiTags.Health, document);
        document.Tags ??= new HashSet<OpenApiTag>();
        if (!document.Tags.Any(t => t.Name == NodeApiTags.Health))
        {
            document.Tags.Add(new OpenApiTag { Name = NodeApiTags.Health });
        }

        foreach (var path in paths)
        {
            var readiness = path == Microsoft.Extensions.Hosting.Extensions.HealthEndpointPath;
            document.Paths[path!] = new OpenApiPathItem
            {
                Operations = new Dictionary<HttpMethod, OpenApiOperation>
                {
                    [HttpMethod.Get] = new OpenApiOperation
                    {
                        OperationId = readiness ? "GetHealth" : "GetAlive",
                        Summary = readiness ? "Readiness: every health check" : "Liveness: the process is up",
                        Description = readiness
                            ? "`Healthy`, `Degraded` (200) or `Unhealthy` (503) with the failing checks (on a node: whether it knows a leader). Anonymous; answered on the peer endpoint too."
                            : "Only the liveness checks: 200 while the process runs. Anonymous; answered on the peer endpoint too.",
                        Tags = new HashSet<OpenApiTagReference> { tag },
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

    private static string Description()
    {
        var text = new StringBuilder();
        text.AppendLine("The HTTP API of one AspireCache node: a strongly consistent key-value store replicated with Raft. Every node serves every operation; writes are committed by the leader (a follower answers 421 naming it), and reads are linearizable unless `consistent=false`. The router serves the same API for the whole cluster (it forwards writes to the leader and retries elections): prefer it.");
        text.AppendLine();
        text.AppendLine("**Authentication.** When the cluster enforces it (`Auth:Credentials`), each operation needs `Authorization: Bearer <key>` with the scope it names (`read`, `write`, `admin`); a credential may also be limited to key prefixes. Without it every request is accepted. This document and `/scalar` are anonymous.");
        text.AppendLine();
        text.AppendLine("**Versions and conditions.** Each key has a version (its `ETag`, e.g. `\"42\"`). Writes take `If-Match: \"<version>\"` (compare-and-set), `If-Match: *` (must exist) or `If-None-Match: *` (create only); reads take `If-None-Match` (304). `Idempotency-Key` makes a retried write apply once (`Idempotent-Replayed: true` on a replay).");
        text.AppendLine();
        text.AppendLine($"**Every answer** carries `{CacheHeaders.Node}` (the node) and `{CacheHeaders.Role}` (`leader` or `follower`). Errors are RFC 9457 problems (`application/problem+json`) whose `type` is `{ProblemTypes.Base}` followed by one of these names (or, for the framework's own 400 and 500, its RFC 9110 URI):");
        text.AppendLine();
        text.AppendLine("| type | status | meaning |");
        text.AppendLine("| --- | --- | --- |");
        foreach (var p in ProblemCatalog.All)
        {
            text.AppendLine($"| `{p.Name}` | {p.Statuses} | {p.Meaning.Replace("|", "\\|", StringComparison.Ordinal)} |");
        }

        return text.ToString();
    }
}

/// <summary>The operation tags of the node API.</summary>
public static class NodeApiTags
{
    public const string Keys = "Keys";
    public const string Batch = "Batch";
    public const string Watch = "Watch";
    public const string HotKeys = "Hot keys";
    public const string Cluster = "Cluster";
    public const string Admin = "Admin";
    public const string Health = "Health";
}
