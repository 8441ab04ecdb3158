using AspireCache.Router.Diagnostics;
using AspireCache.Router.OpenApi;
using AspireCache.Router.RateLimiting;
using AspireCache.Router.Routing;
using AspireCache.Router.Topology;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using Yarp.ReverseProxy.LoadBalancing;

namespace AspireCache.Router;

internal static class Extensions
{
    public static WebApplicationBuilder AddRouterServices(this WebApplicationBuilder builder)
    {
        builder.UseServerLimits();
        builder.UseInlineIo();
        builder.AddTlsTrust(); // optional: HTTPS to the nodes with a private CA (Tls:CaCertificatePath)
        builder.Services.AddOptions<RouterOptions>()
            .BindConfiguration(RouterOptions.SectionName)
            .PostConfigure(options => options.WithDefaults())
            .ValidateDataAnnotations()
            .ValidateOnStart();
        var configured = (builder.Configuration.GetSection(RouterOptions.SectionName).Get<RouterOptions>() ?? new RouterOptions()).WithDefaults();
        var nodes = configured.Nodes;

        builder.Services.AddSingleton<RouterTelemetry>();
        builder.Services.AddSingleton<TopologyMonitor>();
        builder.Services.AddSingleton<ITopologySource>(sp => sp.GetRequiredService<TopologyMonitor>());
        builder.Services.AddHostedService(sp => sp.GetRequiredService<TopologyMonitor>());
        builder.Services.AddSingleton<RetryingProxySteps>();
        builder.Services.AddSingleton<TopologyAccess>();

        // Per-caller rate limiting (Router:RateLimit): ASP.NET Core's middleware, our bounded limiter.
        builder.Services.AddOptions<RouterRateLimitOptions>()
            .BindConfiguration(RouterRateLimitOptions.SectionName)
            .ValidateDataAnnotations()
            .ValidateOnStart();
        builder.Services.AddSingleton<CallerRateLimiter>();
        builder.Services.AddRateLimiter(_ => { });
        builder.Services.AddOptions<RateLimiterOptions>().Configure<CallerRateLimiter>((limits, limiter) =>
        {
            limits.GlobalLimiter = limiter;
            limits.RejectionStatusCode = StatusCodes.Status429TooManyRequests;
            limits.OnRejected = RateLimitRejection.WriteAsync;
        });
        builder.Services.AddSingleton<LeaderLoadBalancingPolicy>();
        builder.Services.AddSingleton<ILoadBalancingPolicy>(sp => sp.GetRequiredService<LeaderLoadBalancingPolicy>());
        builder.Services.AddSingleton<NearestLoadBalancingPolicy>();
        builder.Services.AddSingleton<ILoadBalancingPolicy>(sp => sp.GetRequiredService<NearestLoadBalancingPolicy>());
        builder.Services.AddSingleton<ReadCoalescer>();
        builder.Services.AddSingleton<WriteCoalescer>();
        builder.Services.AddSingleton<ILoadBalancingPolicy, StreamOwnerLoadBalancingPolicy>();

        // Status probes: service discovery, but no retries — a slow node must show up as slow. They
        // carry the router's own credential (proxied requests carry their caller's).
        // No IHttpClientFactory request logging on it: at Trace its structured state carries the
        // header values as sent (only the message is redacted), the router's key included.
        builder.Services.AddHttpClient(TopologyMonitor.HttpClientName)
            .AddHttpMessageHandler(() => new RouterCredentialHandler(configured.Credential))
            .AddServiceDiscovery()
            .RemoveAllLoggers();

        builder.Services.AddReverseProxy()
            .LoadFromMemory(ProxyRoutes.Routes, ProxyRoutes.Clusters(nodes, configured.Http2Streams, configured.NodeScheme))
            .AddTransforms(RetryingProxySteps.AddRetryTransform)
            .AddServiceDiscoveryDestinationResolver();
        builder.Services.AddSingleton<Yarp.ReverseProxy.Forwarder.IForwarderHttpClientFactory, NodeForwarderHttpClientFactory>();

        builder.Services.AddHealthChecks().AddCheck<TopologyHealthCheck>("topology");
        builder.Services.AddRouterOpenApi(); // /openapi/v1.json (node API + router), /openapi/router.json, /scalar
        return builder;
    }

    public static WebApplication MapRouter(this WebApplication app)
    {
        var steps = app.Services.GetRequiredService<RetryingProxySteps>();
        var coalescer = app.Services.GetRequiredService<ReadCoalescer>();
        var writeCoalescer = app.Services.GetRequiredService<WriteCoalescer>();
        app.UseProblemStatusCodePages(); // the router's own empty 404/405 (a path no route maps) becomes a problem
        if (app.Services.GetRequiredService<IOptions<RouterRateLimitOptions>>().Value.Enabled)
        {
            // After routing (the limiter reads the endpoint's RateLimitedEndpoint mark), before the proxy.
            app.UseRateLimiter();
        }

        app.MapReverseProxy(proxy =>
        {
            proxy.Use(coalescer.CoalesceAsync); // single-key GETs: several per node request (or on to the steps below)
            proxy.Use(writeCoalescer.CoalesceAsync); // single-key PUTs and DELETEs: several per request to the leader
            proxy.Use(steps.PrepareAsync);
            proxy.UseLoadBalancing();
            proxy.Use(steps.ForwardAsync);
        }).WithMetadata(RateLimitedEndpoint.Proxy);

        app.MapGet("/router/topology", async Task<Results<Ok<RouterTopology>, EmptyHttpResult>> (HttpContext http, TopologyMonitor monitor, TopologyAccess access) =>
        {
            if (!await access.AuthorizeAsync(http))
            {
                return TypedResults.Empty; // the refusal is written
            }

            var topology = monitor.Current; // one snapshot: leader and term must belong together
            return TypedResults.Ok(new RouterTopology(topology.LeaderId, topology.Term, topology.Nodes.Values.OrderBy(n => n.NodeId, StringComparer.Ordinal)));
        })
            .WithMetadata(RateLimitedEndpoint.Topology)
            .WithName("GetRouterTopology")
            .WithTags(RouterOpenApi.Tag)
            .WithSummary("The cluster as this router sees it")
            .WithDescription("The leader and term the router follows, and each node's last probe: health, role, term, the leader it names, applied index, smoothed latency and zone. Needs a credential with the `read` scope when the router protects it (`Router:TopologyRequiresCredential`; by default when `Router:Credential` is set, i.e. when the nodes enforce authentication): the router asks a node to check the key.")
            .Problem(StatusCodes.Status401Unauthorized, "No credential, or one the cluster does not accept (only when the topology is protected).", ProblemTypes.Unauthenticated)
            .Problem(StatusCodes.Status403Forbidden, "The credential lacks the `read` scope.", ProblemTypes.Forbidden)
            .Problem(StatusCodes.Status503ServiceUnavailable, "No node could check the credential (only when the topology is protected).", ProblemTypes.NoNode)
            .Problem(StatusCodes.Status500InternalServerError, "An unexpected error in the router (the framework's problem).", "https://tools.ietf.org/html/rfc9110#section-15.6.1")
            .WithMetadata(new RouterResponseDoc(StatusCodes.Status200OK, "The router's view of the cluster."));
        app.MapRouterOpenApi();
        return app;
    }
}

/// <summary><c>GET /router/topology</c>: the leader and term the router follows, and what it last observed of each node.</summary>
internal sealed record RouterTopology(string? LeaderId, long Term, IEnumerable<NodeView> Nodes);

/// <summary>Adds <c>Authorization: Bearer {Router:Credential}</c> to the router's own requests to the nodes.</summary>
internal sealed class RouterCredentialHandler(string? credential) : DelegatingHandler
{
    private readonly string? _credential = string.IsNullOrEmpty(credential) ? null : credential;

    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        if (_credential is not null && request.Headers.Authorization is null)
        {
            request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", _credential);
        }

        return base.SendAsync(request, cancellationToken);
    }
}

/// <summary>Healthy with a known leader; Degraded while any node is reachable but no leader is known.</summary>
internal sealed class TopologyHealthCheck(TopologyMonitor monitor) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var topology = monitor.Current;
        if (topology.LeaderId is not null)
        {
            return Task.FromResult(HealthCheckResult.Healthy($"leader {topology.LeaderId}, term {topology.Term}"));
        }

        return Task.FromResult(topology.Nodes.Values.Any(n => n.Healthy)
            ? HealthCheckResult.Degraded("no leader known")
            : HealthCheckResult.Unhealthy("no node reachable"));
    }
}
