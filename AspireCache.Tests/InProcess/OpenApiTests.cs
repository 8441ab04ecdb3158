using System.Net;
using System.Net.Http.Headers;
using System.Reflection;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using AspireCache.Node.Api.OpenApi;
using AspireCache.Node.Auth;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Metadata;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.Routing.Patterns;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.OpenApi;

namespace AspireCache.Tests.InProcess;

/// <summary>
/// A cluster that enforces client authentication (so "anonymous" is tested for real) and a router in
/// front of it; both OpenAPI documents fetched once, anonymously.
/// </summary>
public sealed class OpenApiFixture : IAsyncLifetime
{
    public static readonly string AppKey = NewKey();
    public static readonly string RouterKey = NewKey();

    public InProcessCluster Cluster { get; private set; } = null!;

    public InProcessRouter Router { get; private set; } = null!;

    public string NodeJson { get; private set; } = "";

    public string RouterJson { get; private set; } = "";

    public JsonObject NodeDocument => JsonNode.Parse(NodeJson)!.AsObject();

    public JsonObject RouterDocument => JsonNode.Parse(RouterJson)!.AsObject();

    public async Task InitializeAsync()
    {
        Cluster = await InProcessCluster.StartAsync(
            new Dictionary<string, string?>
            {
                ["Auth:Credentials:0:Name"] = "app",
                ["Auth:Credentials:0:Key"] = AppKey,
                ["Auth:Credentials:0:Scopes:0"] = "read,write,admin",
                ["Auth:Credentials:1:Name"] = "router",
                ["Auth:Credentials:1:Key"] = RouterKey,
                ["Auth:Credentials:1:Scopes:0"] = "read",
            },
            credential: AppKey);
        Router = await InProcessRouter.StartAsync(Cluster, new Dictionary<string, string?> { ["Router:Credential"] = RouterKey });
        using var node = Anonymous(Cluster.Urls[0]);
        NodeJson = await GetDocumentAsync(node);
        using var router = Anonymous(Router.Url);
        RouterJson = await GetDocumentAsync(router);
    }

    public async Task DisposeAsync()
    {
        await Router.DisposeAsync();
        await Cluster.DisposeAsync();
    }

    public static HttpClient Anonymous(Uri url) => new() { BaseAddress = url, Timeout = TimeSpan.FromSeconds(30) };

    private static async Task<string> GetDocumentAsync(HttpClient client)
    {
        using var response = await client.GetAsync("/openapi/v1.json");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode); // anonymous, though the cluster enforces authentication
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        return await response.Content.ReadAsStringAsync();
    }

    private static string NewKey() => RandomNumberGenerator.GetString("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", 32);
}

/// <summary>The node's and the router's OpenAPI documents and reference pages (issue #14).</summary>
[Collection(InProcessCollection.Name)]
public sealed class OpenApiTests(OpenApiFixture fixture) : IClassFixture<OpenApiFixture>
{
    private static readonly string[] Methods = ["get", "put", "post", "delete", "patch", "head", "options", "trace"];

    [Fact]
    public void Both_documents_are_valid_OpenAPI_3_and_nodes_serve_theirs_in_Production()
    {
        Assert.Equal("Production", fixture.Cluster.AppOf(0)!.Environment.EnvironmentName);
        foreach (var json in new[] { fixture.NodeJson, fixture.RouterJson })
        {
            var read = OpenApiDocument.Parse(json, "json");
            Assert.Empty(read.Diagnostic?.Errors ?? []);
            Assert.NotNull(read.Document);
            Assert.StartsWith("3.", read.Diagnostic!.SpecificationVersion switch
            {
                OpenApiSpecVersion.OpenApi3_0 => "3.0",
                OpenApiSpecVersion.OpenApi3_1 => "3.1",
                var other => other.ToString(),
            }, StringComparison.Ordinal);
            Assert.StartsWith("3.", JsonNode.Parse(json)!["openapi"]!.GetValue<string>(), StringComparison.Ordinal);
            Assert.Empty(read.Document!.Validate(ValidationRuleSet.GetDefaultRuleSet()) ?? []);
        }
    }

    [Fact]
    public void Every_client_route_the_node_maps_is_documented_with_an_id_and_a_summary()
    {
        var paths = fixture.NodeDocument["paths"]!.AsObject();
        var documented = 0;
        foreach (var (path, method, endpoint) in ClientRoutes())
        {
            var operation = paths[path]?[method];
            Assert.True(operation is not null, $"{method.ToUpperInvariant()} {path} ({endpoint.DisplayName}) is not in the node's document");
            Assert.False(string.IsNullOrWhiteSpace(operation!["operationId"]?.GetValue<string>()), $"{method} {path}: no operationId");
            Assert.False(string.IsNullOrWhiteSpace(operation["summary"]?.GetValue<string>()), $"{method} {path}: no summary");
            Assert.NotEmpty(operation["responses"]!.AsObject());
            documented++;
        }

        Assert.True(documented >= 15, $"only {documented} routes found");

        // And nothing in the document that the node does not serve.
        var served = ClientRoutes().Select(r => (r.Path, r.Method)).ToHashSet();
        foreach (var (path, method, _) in Operations(fixture.NodeDocument))
        {
            Assert.Contains((path, method), served);
        }
    }

    [Fact]
    public async Task Node_to_node_endpoints_are_mapped_but_absent_and_the_document_is_not_served_on_the_peer_endpoint()
    {
        var routes = Endpoints().Select(e => e.RoutePattern.RawText).ToList();
        Assert.Contains("/cluster/read-index", routes);
        Assert.Contains("/cluster/access", routes);
        var paths = fixture.NodeDocument["paths"]!.AsObject();
        Assert.False(paths.ContainsKey("/cluster/read-index"));
        Assert.False(paths.ContainsKey("/cluster/access"));
        Assert.DoesNotContain("read-index", fixture.RouterJson, StringComparison.Ordinal);

        using var peer = OpenApiFixture.Anonymous(fixture.Cluster.PeerUrls[0]);
        using var response = await peer.GetAsync("/openapi/v1.json");
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Contains("client-endpoint-only", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public void Every_operation_of_a_scoped_endpoint_lists_401_403_and_the_bearer_scheme()
    {
        var document = fixture.NodeDocument;
        var scheme = document["components"]!["securitySchemes"]!["bearer"]!;
        Assert.Equal("http", scheme["type"]!.GetValue<string>());
        Assert.Equal("bearer", scheme["scheme"]!.GetValue<string>());
        var scoped = ClientRoutes().Where(r => r.Endpoint.Metadata.GetMetadata<ScopeRequirement>() is not null).ToList();
        Assert.True(scoped.Count >= 13);
        foreach (var (path, method, endpoint) in scoped)
        {
            var operation = document["paths"]![path]![method]!;
            var responses = operation["responses"]!.AsObject();
            Assert.True(responses.ContainsKey("401"), $"{method} {path}: no 401");
            Assert.True(responses.ContainsKey("403"), $"{method} {path}: no 403");
            Assert.Contains(operation["security"]!.AsArray(), s => s!.AsObject().ContainsKey("bearer"));
            var scope = ScopeParser.Name(endpoint.Metadata.GetMetadata<ScopeRequirement>()!.Scope);
            Assert.Contains($"`{scope}`", responses["403"]!["description"]!.GetValue<string>(), StringComparison.Ordinal);
        }

        // The router's copy keeps them; its own topology lists them too.
        foreach (var (path, method, operation) in Operations(fixture.RouterDocument).Where(o => o.Path != "/health" && o.Path != "/alive"))
        {
            Assert.True(operation["responses"]!.AsObject().ContainsKey("401"), $"router: {method} {path}: no 401");
            Assert.True(operation["responses"]!.AsObject().ContainsKey("403"), $"router: {method} {path}: no 403");
        }
    }

    [Fact]
    public void Cluster_backed_operations_list_503_with_Retry_After_and_writes_list_421_with_the_leader()
    {
        var paths = fixture.NodeDocument["paths"]!;
        var backed = ClientRoutes()
            .Select(r => (r.Path, r.Method, Doc: r.Endpoint.Metadata.GetMetadata<OperationDoc>()))
            .Where(r => r.Doc is { Cluster: not ClusterErrors.None })
            .ToList();
        Assert.Equal(
            ["CommitBarrier", "DeleteKey", "GetKey", "ListKeys", "PutKey", "RequestWatchProgress", "TakeSnapshot", "Watch", "WriteBatch"],
            backed.Select(b => paths[b.Path]![b.Method]!["operationId"]!.GetValue<string>()).Order(StringComparer.Ordinal));
        foreach (var (path, method, doc) in backed)
        {
            var responses = paths[path]![method]!["responses"]!;
            var unavailable = responses["503"];
            Assert.True(unavailable is not null, $"{method} {path}: no 503");
            Assert.NotNull(unavailable!["headers"]?["Retry-After"]);
            foreach (var type in new[] { ProblemTypes.NoLeader, ProblemTypes.Overloaded, ProblemTypes.Timeout })
            {
                Assert.Contains(type, unavailable["x-problem-types"]!.AsArray().Select(t => t!.GetValue<string>()));
            }

            if (doc!.Cluster == ClusterErrors.Write)
            {
                var misdirected = responses["421"];
                Assert.True(misdirected is not null, $"{method} {path}: no 421");
                Assert.NotNull(misdirected!["headers"]?[CacheHeaders.LeaderUrl]);
                Assert.NotNull(misdirected["headers"]?[CacheHeaders.Leader]);
            }
        }
    }

    [Fact]
    public void Every_error_answer_is_an_RFC_9457_problem_naming_its_types()
    {
        foreach (var (name, document) in new[] { ("node", fixture.NodeDocument), ("router", fixture.RouterDocument) })
        {
            Assert.NotNull(document["components"]!["schemas"]!["ProblemDetails"]);
            foreach (var (path, method, operation) in Operations(document))
            {
                var health = operation["tags"]?.AsArray().Any(t => t!.GetValue<string>() == "Health") == true;
                foreach (var (status, response) in operation["responses"]!.AsObject())
                {
                    if (status[0] is not ('4' or '5') || health)
                    {
                        continue; // health probes answer 503 in plain text: probes read the status
                    }

                    var where = $"{name}: {method.ToUpperInvariant()} {path} {status}";
                    var content = response!["content"]!.AsObject();
                    Assert.True(content.Count == 1 && content.ContainsKey("application/problem+json"), $"{where}: {string.Join(", ", content.Select(c => c.Key))}");
                    Assert.Equal("#/components/schemas/ProblemDetails", content["application/problem+json"]!["schema"]!["$ref"]!.GetValue<string>());
                    var types = response["x-problem-types"]?.AsArray().Select(t => t!.GetValue<string>()).ToList() ?? [];
                    Assert.True(types.Count > 0, $"{where}: no problem types");
                    foreach (var type in types)
                    {
                        Assert.Contains(type, response["description"]!.GetValue<string>(), StringComparison.Ordinal);
                    }
                }

                Assert.True(health || operation["responses"]!.AsObject().ContainsKey("500"), $"{name}: {method} {path}: no 500");
            }
        }
    }

    [Fact]
    public void The_documents_name_every_problem_type()
    {
        var constants = typeof(ProblemTypes).GetFields(BindingFlags.Public | BindingFlags.Static)
            .Where(f => f.IsLiteral && f.FieldType == typeof(string) && f.Name != nameof(ProblemTypes.Base))
            .Select(f => (string)f.GetRawConstantValue()!)
            .ToList();
        Assert.True(constants.Count >= 20);
        foreach (var document in new[] { fixture.NodeDocument, fixture.RouterDocument })
        {
            var problem = document["components"]!["schemas"]!["ProblemDetails"]!;
            var listed = problem["x-problem-types"]!.AsArray().Select(p => p!["type"]!.GetValue<string>()).ToHashSet();
            var typeDescription = problem["properties"]!["type"]!["description"]!.GetValue<string>();
            var description = document["info"]!["description"]!.GetValue<string>();
            foreach (var type in constants)
            {
                Assert.Contains(type, listed);
                Assert.Contains($"`{type}`", typeDescription, StringComparison.Ordinal);
                Assert.Contains($"| `{type[ProblemTypes.Base.Length..]}` |", description, StringComparison.Ordinal); // the table of the introduction
            }
        }

        // Each operation's answers name real types only.
        var known = ProblemCatalog.All.Select(p => p.Type).ToHashSet();
        foreach (var (_, _, operation) in Operations(fixture.RouterDocument).Concat(Operations(fixture.NodeDocument)))
        {
            foreach (var (_, response) in operation["responses"]!.AsObject())
            {
                foreach (var type in response!["x-problem-types"]?.AsArray() ?? [])
                {
                    Assert.Contains(type!.GetValue<string>(), known);
                }
            }
        }
    }

    [Fact]
    public void Values_are_binary_watch_is_an_event_stream_and_the_headers_are_documented()
    {
        var paths = fixture.NodeDocument["paths"]!;
        var get = paths["/cache/{key}"]!["get"]!;
        var put = paths["/cache/{key}"]!["put"]!;
        var delete = paths["/cache/{key}"]!["delete"]!;
        Assert.Equal("binary", put["requestBody"]!["content"]!["application/octet-stream"]!["schema"]!["format"]!.GetValue<string>());
        Assert.Equal("binary", get["responses"]!["200"]!["content"]!["application/octet-stream"]!["schema"]!["format"]!.GetValue<string>());
        Assert.NotNull(paths["/cache/watch"]!["get"]!["responses"]!["200"]!["content"]!["text/event-stream"]);
        Assert.NotNull(paths["/cache/batch"]!["post"]!["requestBody"]!["content"]!["application/json"]);

        Assert.Contains("If-None-Match", HeaderParameters(get));
        Assert.Contains("If-Match", HeaderParameters(put));
        Assert.Contains("If-None-Match", HeaderParameters(put));
        Assert.Contains("Idempotency-Key", HeaderParameters(put));
        Assert.Contains("If-Match", HeaderParameters(delete));
        Assert.Contains("Idempotency-Key", HeaderParameters(delete));
        Assert.Contains("Idempotency-Key", HeaderParameters(paths["/cache/batch"]!["post"]!));
        Assert.Contains(CacheHeaders.LastEventId, HeaderParameters(paths["/cache/watch"]!["get"]!));

        Assert.NotNull(get["responses"]!["200"]!["headers"]!["ETag"]);
        Assert.NotNull(get["responses"]!["200"]!["headers"]![CacheHeaders.Revision]);
        Assert.Contains("304", get["responses"]!["3XX"]!["description"]!.GetValue<string>(), StringComparison.Ordinal); // published as a range: see NodeOperationTransformer
        Assert.NotNull(paths["/cache"]!["get"]!["responses"]!["200"]!["headers"]![CacheHeaders.Revision]);
        Assert.NotNull(put["responses"]!["201"]!["headers"]!["ETag"]);
        Assert.NotNull(put["responses"]!["200"]!["headers"]!["ETag"]);
        Assert.NotNull(put["responses"]!["412"]);
        Assert.NotNull(put["responses"]!["413"]);
        Assert.NotNull(paths["/cache/watch"]!["get"]!["responses"]!["429"]!["headers"]!["Retry-After"]);
        Assert.Contains(ProblemTypes.TooManyWatchersForCredential, paths["/cache/watch"]!["get"]!["responses"]!["429"]!["x-problem-types"]!.AsArray().Select(t => t!.GetValue<string>()));
        Assert.Equal("integer", fixture.NodeDocument["components"]!["schemas"]!["WriteResponse"]!["properties"]!["version"]!["type"]!.GetValue<string>());
        // The key's "/" are sent as they are (a %2F would be part of the key's name): a reserved
        // parameter, on the path item where Kiota honours it.
        foreach (var document in new[] { fixture.NodeDocument, fixture.RouterDocument })
        {
            var key = document["paths"]!["/cache/{key}"]!["parameters"]!.AsArray().Single()!;
            Assert.Equal("key", key["name"]!.GetValue<string>());
            Assert.True(key["x-ms-reserved-parameter"]!.GetValue<bool>());
        }

        var afterRevision = paths["/cache/watch"]!["get"]!["parameters"]!.AsArray().Single(p => p!["name"]!.GetValue<string>() == "afterRevision")!;
        Assert.Equal("int64", afterRevision["schema"]!["format"]!.GetValue<string>()); // revisions are 64-bit
    }

    [Fact]
    public async Task The_router_document_has_every_proxied_operation_with_429_and_its_own_endpoints()
    {
        var document = fixture.RouterDocument;
        Assert.Equal(fixture.Router.Url.ToString(), document["servers"]![0]!["url"]!.GetValue<string>());
        var paths = document["paths"]!.AsObject();
        Assert.NotNull(paths["/router/topology"]?["get"]);
        Assert.Equal("#/components/schemas/RouterTopology", paths["/router/topology"]!["get"]!["responses"]!["200"]!["content"]!["application/json"]!["schema"]!["$ref"]!.GetValue<string>());

        // Exactly what the YARP routes proxy: the node-only operations are not offered here.
        var expected = new[]
        {
            ("/cache", "get"), ("/cache/hot", "get"), ("/cache/hot", "post"), ("/cache/batch", "post"),
            ("/cache/{key}", "get"), ("/cache/{key}", "put"), ("/cache/{key}", "delete"),
            ("/cache/watch", "get"), ("/cache/watch/{streamId}/progress", "post"), ("/cluster/status", "get"),
        };
        foreach (var (path, method) in expected)
        {
            var responses = paths[path]?[method]?["responses"];
            Assert.True(responses is not null, $"router: {method} {path} missing");
            var limited = responses!["429"];
            Assert.True(limited is not null, $"router: {method} {path}: no 429");
            Assert.Contains(ProblemTypes.RateLimited, limited!["x-problem-types"]!.AsArray().Select(t => t!.GetValue<string>()));
            Assert.NotNull(limited["headers"]!["Retry-After"]);
            Assert.Contains(ProblemTypes.NoNode, responses["503"]!["x-problem-types"]!.AsArray().Select(t => t!.GetValue<string>()));
        }

        Assert.NotNull(paths["/router/topology"]!["get"]!["responses"]!["429"]);
        Assert.False(paths.ContainsKey("/cluster/watch"));
        Assert.DoesNotContain(paths, p => p.Key.StartsWith("/admin", StringComparison.Ordinal));
        var operations = Operations(document).Where(o => o.Path is not ("/health" or "/alive")).Select(o => (o.Path, o.Method)).ToHashSet();
        Assert.Equal(expected.Length + 1, operations.Count); // + /router/topology
        Assert.Equal("Health", paths["/health"]!["get"]!["tags"]![0]!.GetValue<string>()); // the router's own probe

        // The router's own document, on its own.
        using var client = OpenApiFixture.Anonymous(fixture.Router.Url);
        var own = JsonNode.Parse(await client.GetStringAsync("/openapi/router.json"))!;
        Assert.NotNull(own["paths"]!["/router/topology"]);
        Assert.Null(own["paths"]!["/cache/{key}"]);
    }

    [Fact]
    public async Task The_reference_pages_answer_HTML_and_load_their_script_from_the_server_itself()
    {
        foreach (var url in new[] { fixture.Cluster.Urls[1], fixture.Router.Url })
        {
            using var client = OpenApiFixture.Anonymous(url);
            using var page = await client.GetAsync("/scalar/v1");
            Assert.Equal(HttpStatusCode.OK, page.StatusCode);
            Assert.Equal("text/html", page.Content.Headers.ContentType?.MediaType);
            var html = await page.Content.ReadAsStringAsync();
            Assert.Contains("openapi/v1.json", html, StringComparison.Ordinal);
            Assert.Contains("<script src=\"scalar.js\"></script>", html, StringComparison.Ordinal);

            // The page's script is served here (no CDN): the page works without the internet.
            using var script = await client.GetAsync("/scalar/scalar.js");
            Assert.Equal(HttpStatusCode.OK, script.StatusCode);
            Assert.Contains("javascript", script.Content.Headers.ContentType?.MediaType, StringComparison.Ordinal);
            Assert.True((await script.Content.ReadAsByteArrayAsync()).Length > 100_000);
        }
    }

    [Fact]
    public async Task The_document_is_the_same_each_time_it_is_generated()
    {
        using var node = OpenApiFixture.Anonymous(fixture.Cluster.Urls[0]);
        for (var i = 0; i < 2; i++)
        {
            Assert.Equal(fixture.NodeJson, await node.GetStringAsync("/openapi/v1.json")); // the metadata is read, never changed
        }
    }

    [Fact]
    public async Task The_document_is_anonymous_while_the_API_is_not()
    {
        using var anonymous = OpenApiFixture.Anonymous(fixture.Cluster.Urls[2]);
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync("/cluster/status")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await anonymous.GetAsync("/openapi/v1.json")).StatusCode);

        using var authenticated = OpenApiFixture.Anonymous(fixture.Cluster.Urls[2]);
        authenticated.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", OpenApiFixture.AppKey);
        Assert.Equal(HttpStatusCode.OK, (await authenticated.GetAsync("/cluster/status")).StatusCode);
    }

    /// <summary>The node's endpoints.</summary>
    private IEnumerable<RouteEndpoint> Endpoints() =>
        fixture.Cluster.AppOf(0)!.Services.GetRequiredService<EndpointDataSource>().Endpoints.OfType<RouteEndpoint>();

    /// <summary>
    /// Every route a client can call on a node, as an OpenAPI path and method: every endpoint except
    /// those excluded from the description (node to node, and the document and page themselves).
    /// </summary>
    private List<(string Path, string Method, RouteEndpoint Endpoint)> ClientRoutes()
    {
        var routes = new List<(string, string, RouteEndpoint)>();
        foreach (var endpoint in Endpoints())
        {
            if (endpoint.Metadata.GetMetadata<IExcludeFromDescriptionMetadata>() is { ExcludeFromDescription: true })
            {
                continue;
            }

            var path = "/" + string.Join('/', endpoint.RoutePattern.PathSegments.Select(s => s.Parts switch
            {
                [RoutePatternParameterPart parameter] => $"{{{parameter.Name}}}",
                var parts => string.Concat(parts.Select(p => p switch
                {
                    RoutePatternLiteralPart literal => literal.Content,
                    RoutePatternParameterPart parameter => $"{{{parameter.Name}}}",
                    RoutePatternSeparatorPart separator => separator.Content,
                    _ => "?",
                })),
            }));
            var methods = endpoint.Metadata.GetMetadata<IHttpMethodMetadata>()?.HttpMethods ?? ["GET"];
            foreach (var method in methods)
            {
                routes.Add((path, method.ToLowerInvariant(), endpoint));
            }
        }

        return routes;
    }

    private static IEnumerable<(string Path, string Method, JsonNode Operation)> Operations(JsonObject document)
    {
        foreach (var (path, item) in document["paths"]!.AsObject())
        {
            foreach (var (method, operation) in item!.AsObject())
            {
                if (Methods.Contains(method))
                {
                    yield return (path, method, operation!);
                }
            }
        }
    }

    private static List<string> HeaderParameters(JsonNode operation) =>
        [.. operation["parameters"]!.AsArray().Where(p => p!["in"]!.GetValue<string>() == "header").Select(p => p!["name"]!.GetValue<string>())];
}
