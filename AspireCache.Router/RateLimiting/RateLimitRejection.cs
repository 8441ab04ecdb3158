using System.Globalization;
using System.Threading.RateLimiting;
using AspireCache.Router.Diagnostics;
using Microsoft.AspNetCore.RateLimiting;
using Yarp.ReverseProxy.Model;

namespace AspireCache.Router.RateLimiting;

/// <summary>The answer to a request over its caller's rate: 429, <c>Retry-After</c>, an RFC 9457 problem; nothing reaches a node.</summary>
internal static class RateLimitRejection
{
    public const string ProblemType = ProblemTypes.RateLimited;

    public static async ValueTask WriteAsync(OnRejectedContext rejected, CancellationToken token)
    {
        var context = rejected.HttpContext;
        var services = context.RequestServices;
        var endpoint = context.GetEndpoint();
        var route = endpoint?.Metadata.GetMetadata<RateLimitedEndpoint>()?.Route
            ?? endpoint?.Metadata.GetMetadata<RouteModel>()?.Config.RouteId
            ?? "other";
        var caller = CallerKey.Of(context).Kind == CallerKind.Credential ? "credential" : "address";
        services.GetRequiredService<RouterTelemetry>().RateLimited(route, caller);

        var retryAfter = rejected.Lease.TryGetMetadata(MetadataName.RetryAfter, out var wait) ? wait : TimeSpan.FromSeconds(1);
        var seconds = Math.Max(1, (long)Math.Ceiling(retryAfter.TotalSeconds));
        var options = services.GetRequiredService<CallerRateLimiter>().Options;
        context.Response.StatusCode = StatusCodes.Status429TooManyRequests;
        context.Response.Headers.RetryAfter = seconds.ToString(CultureInfo.InvariantCulture);
        await services.GetRequiredService<IProblemDetailsService>().WriteAsync(new ProblemDetailsContext
        {
            HttpContext = context,
            ProblemDetails =
            {
                Status = StatusCodes.Status429TooManyRequests,
                Type = ProblemType,
                Title = "Too many requests",
                Detail = string.Create(
                    CultureInfo.InvariantCulture,
                    $"This {(caller == "credential" ? "credential" : "client address")} sent more than the router's limit of {options.PermitsPerSecond:0.###} requests per second (bursts of {options.Burst}). Nothing was done; retry after {seconds} s."),
            },
        });
    }
}
