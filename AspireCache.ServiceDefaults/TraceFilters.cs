using System.Net.Http;
using Microsoft.AspNetCore.Http;
using OpenTelemetry.Trace;

namespace Microsoft.Extensions.Hosting;

/// <summary>
/// Which HTTP requests get a span. Clients' requests do, with the commit and read-index work they
/// cause (the nodes' own <c>raft.replicate</c>, <c>raft.apply</c>, <c>cache.read_index</c> spans and the
/// follower's <c>/cluster/read-index</c> call). Background chatter does not: Raft's own RPCs
/// (heartbeats every few hundred ms, votes; replication shows as the node's spans instead), the
/// router's and clients' <c>/cluster/status</c> and <c>/cluster/watch</c> polls, access reports, and
/// health probes. An idle cluster used to show ~15 new traces a second in the dashboard; now none.
/// ASP.NET Core's and HttpClient's request metrics still count every one of them.
/// </summary>
public static class TraceFilters
{
    private static readonly PathString[] Untraced =
    [
        "/health",
        "/alive",
        "/cluster-consensus", // DotNext's Raft endpoint
        "/cluster/status",
        "/cluster/watch",
        "/cluster/access",
    ];

    /// <summary>Whether an incoming request gets a server span.</summary>
    public static bool IsTraced(HttpContext context) =>
        !context.Request.Headers.ContainsKey("X-Raft-Message-Type") && IsTracedPath(context.Request.Path);

    /// <summary>Whether an outgoing request gets a client span.</summary>
    public static bool IsTraced(HttpRequestMessage request) =>
        !request.Headers.Contains("X-Raft-Message-Type")
        && (request.RequestUri is not { IsAbsoluteUri: true } uri || IsTracedPath(new PathString(uri.AbsolutePath)));

    private static bool IsTracedPath(PathString path)
    {
        foreach (var untraced in Untraced)
        {
            if (path.StartsWithSegments(untraced, StringComparison.OrdinalIgnoreCase))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>The services' tracing: their own sources plus filtered ASP.NET Core and HttpClient spans.</summary>
    /// <param name="tracing">The tracer provider builder.</param>
    /// <param name="sources">ActivitySource names (the service's own).</param>
    public static TracerProviderBuilder AddAspireCacheTracing(this TracerProviderBuilder tracing, params string[] sources) =>
        tracing
            .AddSource(sources)
            .AddAspNetCoreInstrumentation(o => o.Filter = IsTraced)
            .AddHttpClientInstrumentation(o => o.FilterHttpRequestMessage = IsTraced);
}
