using AspireCache.Router.Diagnostics;
using AspireCache.Router.Routing;
using AspireCache.Router.Topology;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Yarp.ReverseProxy.LoadBalancing;

namespace AspireCache.Router;

internal static class Extensions
{
    public static WebApplicationBuilder AddRouterServices(this WebApplicationBuilder builder)
    {
        builder.UseServerLimits();
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
        builder.Services.AddSingleton<ILoadBalancingPolicy, LeaderLoadBalancingPolicy>();
        builder.Services.AddSingleton<ILoadBalancingPolicy, NearestLoadBalancingPolicy>();
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
            .LoadFromMemory(ProxyRoutes.Routes, ProxyRoutes.Clusters(nodes, configured.Http2Streams))
            .AddTransforms(RetryingProxySteps.AddRetryTransform)
            .AddServiceDiscoveryDestinationResolver();

        builder.Services.AddHealthChecks().AddCheck<TopologyHealthCheck>("topology");
        return builder;
    }

    public static WebApplication MapRouter(this WebApplication app)
    {
        var steps = app.Services.GetRequiredService<RetryingProxySteps>();
        app.MapReverseProxy(proxy =>
        {
            proxy.Use(steps.PrepareAsync);
            proxy.UseLoadBalancing();
            proxy.Use(steps.ForwardAsync);
        });

        app.MapGet("/router/topology", (TopologyMonitor monitor) =>
        {
            var topology = monitor.Current; // one snapshot: leader and term must belong together
            return TypedResults.Ok(new
            {
                leaderId = topology.LeaderId,
                term = topology.Term,
                nodes = topology.Nodes.Values.OrderBy(n => n.NodeId, StringComparer.Ordinal),
            });
        });
        return app;
    }
}

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
