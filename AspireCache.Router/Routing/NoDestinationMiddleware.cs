using System.Diagnostics;
using AspireCache.Router.Diagnostics;
using AspireCache.Router.Topology;
using Microsoft.Extensions.Options;
using Yarp.ReverseProxy.Model;

namespace AspireCache.Router.Routing;

/// <summary>
/// Proxy-pipeline steps around YARP's load balancing: a write that arrives while no leader is
/// known waits briefly for one (elections take a few hundred ms), and a request no node can
/// serve gets an RFC 9457 503 with Retry-After instead of YARP's empty 503.
/// </summary>
internal sealed class NoDestinationMiddleware(
    TopologyMonitor monitor,
    RouterTelemetry telemetry,
    IOptions<RouterOptions> options,
    IProblemDetailsService problems)
{
    private static readonly TimeSpan LeaderWait = TimeSpan.FromSeconds(2);

    public async Task BeforeLoadBalancingAsync(HttpContext context, Func<Task> next)
    {
        var route = context.GetReverseProxyFeature().Route.Config.RouteId;
        if (route == ProxyRoutes.WritesRoute && monitor.Current.LeaderId is null)
        {
            await monitor.WaitForLeaderAsync(LeaderWait, context.RequestAborted);
        }

        await next();
    }

    public async Task AfterLoadBalancingAsync(HttpContext context, Func<Task> next)
    {
        var feature = context.GetReverseProxyFeature();
        var route = feature.Route.Config.RouteId;
        if (feature.AvailableDestinations.Count == 0)
        {
            var reason = route == ProxyRoutes.WritesRoute ? "no-leader" : "no-healthy-node";
            telemetry.Rejected(route, reason);
            context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
            context.Response.Headers.RetryAfter = options.Value.RetryAfterSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
            await problems.WriteAsync(new ProblemDetailsContext
            {
                HttpContext = context,
                ProblemDetails =
                {
                    Status = StatusCodes.Status503ServiceUnavailable,
                    Type = "https://aspirecache.dev/problems/no-leader",
                    Title = route == ProxyRoutes.WritesRoute ? "No leader is known" : "No node is available",
                    Detail = "The cluster is electing a leader or has lost its quorum. Retry after the indicated delay.",
                },
            });
            return;
        }

        Activity.Current?.SetTag("aspirecache.route.destination", feature.AvailableDestinations[0].DestinationId);
        Activity.Current?.SetTag("aspirecache.route.reason", context.Items[RoutingItems.Reason]);

        await next();

        // A node that answers "not leader" means the topology is stale: refresh now.
        if (context.Response.StatusCode == StatusCodes.Status421MisdirectedRequest)
        {
            monitor.RequestRefresh();
        }
    }
}
