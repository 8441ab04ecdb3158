using Microsoft.Extensions.Configuration;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Logging;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;

namespace Microsoft.Extensions.Hosting;

/// <summary>Aspire service defaults: OpenTelemetry, health checks, service discovery (<see cref="AddBasicServiceDefaults{TBuilder}"/>).</summary>
public static class Extensions
{
    public const string HealthEndpointPath = "/health";
    public const string AlivenessEndpointPath = "/alive";

    /// <summary>Tag on health checks that decide liveness (process up) rather than readiness.</summary>
    public const string LiveTag = "live";

    /// <summary>
    /// OpenTelemetry, health checks, service discovery and problem details. Deliberately no
    /// resilience handler on HttpClients: a Raft node's consensus RPCs must never be retried or
    /// circuit-broken by a generic policy, and the router retries on its own terms.
    /// </summary>
    public static TBuilder AddBasicServiceDefaults<TBuilder>(this TBuilder builder, params string[] extraSourcesAndMeters) where TBuilder : IHostApplicationBuilder
    {
        builder.ConfigureOpenTelemetry(extraSourcesAndMeters);
        builder.AddDefaultHealthChecks();
        builder.Services.AddServiceDiscovery();
        builder.Services.AddProblemDetails();
        return builder;
    }

    /// <summary>
    /// An empty error answer of the pipeline (the routing's 404 for a path nothing maps, its 405 for a method a
    /// path does not take) becomes an RFC 9457 problem, whatever the client accepts. ASP.NET Core's own
    /// <c>UseStatusCodePages()</c> writes a problem only for a client that accepts JSON and plain text for
    /// any other <c>Accept</c> (text/html, garbage: found by the API fuzzer).
    /// </summary>
    public static IApplicationBuilder UseProblemStatusCodePages(this IApplicationBuilder app) =>
        app.UseStatusCodePages(static context =>
            context.HttpContext.RequestServices.GetRequiredService<IProblemDetailsService>().WriteProblemAsync(
                new ProblemDetailsContext { HttpContext = context.HttpContext, ProblemDetails = { Status = context.HttpContext.Response.StatusCode } }).AsTask());

    /// <summary>
    /// Writes <paramref name="problem"/> through the problem details service (its customizations apply), and
    /// as a plain RFC 9457 problem when that service declines: it writes only for a client that accepts JSON,
    /// and for any other <c>Accept</c> (text/html, garbage) the answer went out without a body or as text.
    /// A problem is the answer whatever the client prefers.
    /// </summary>
    public static async ValueTask WriteProblemAsync(this IProblemDetailsService problems, ProblemDetailsContext problem)
    {
        if (!await problems.TryWriteAsync(problem))
        {
            await Results.Problem(problem.ProblemDetails).ExecuteAsync(problem.HttpContext);
        }
    }

    /// <summary>
    /// OpenTelemetry logs, metrics and traces exported over OTLP (the Aspire dashboard, or any
    /// collector). Without an OTLP endpoint nothing is registered: recording spans nobody exports
    /// costs CPU on every request (measured by the benchmark, which runs without a collector).
    /// </summary>
    public static TBuilder ConfigureOpenTelemetry<TBuilder>(this TBuilder builder, params string[] sourcesAndMeters) where TBuilder : IHostApplicationBuilder
    {
        if (string.IsNullOrWhiteSpace(builder.Configuration["OTEL_EXPORTER_OTLP_ENDPOINT"]))
        {
            return builder;
        }

        builder.Logging.AddOpenTelemetry(logging =>
        {
            logging.IncludeFormattedMessage = true;
            logging.IncludeScopes = true;
        });

        // A service's own ActivitySource and Meter are named after it (e.g. AspireCache.Node).
        string[] names = [builder.Environment.ApplicationName, .. sourcesAndMeters];
        builder.Services.AddOpenTelemetry()
            .WithMetrics(metrics => metrics
                .AddAspNetCoreInstrumentation()
                .AddHttpClientInstrumentation()
                .AddRuntimeInstrumentation()
                .AddMeter(names))
            // Spans for clients' requests and the work they cause; none for heartbeats, polls and probes (TraceFilters).
            .WithTracing(tracing =>
            {
                tracing.AddAspireCacheTracing(names);

                // Head sampling (TraceSampling): callers' traces followed, new traces rate-limited.
                if (!builder.Configuration.GetValue<bool>(TraceSampling.SampleAllTracesKey))
                {
                    tracing.SetSampler(new RateLimitedRootSampler(builder.Configuration.GetValue(TraceSampling.RootTracesPerSecondKey, TraceSampling.DefaultRootTracesPerSecond)));
                }
            })
            .UseOtlpExporter();
        builder.Services.AddHostedService<TelemetryShutdown>();

        return builder;
    }

    public static TBuilder AddDefaultHealthChecks<TBuilder>(this TBuilder builder) where TBuilder : IHostApplicationBuilder
    {
        builder.Services.AddHealthChecks()
            .AddCheck("self", () => HealthCheckResult.Healthy(), [LiveTag]);
        return builder;
    }

    /// <summary>
    /// <c>/health</c>: every check must pass (readiness); <c>/alive</c>: only live-tagged checks.
    /// Mapped in every environment: Aspire's health checks and the router depend on them.
    /// </summary>
    public static WebApplication MapDefaultEndpoints(this WebApplication app)
    {
        app.MapHealthChecks(HealthEndpointPath, new HealthCheckOptions
        {
            ResponseWriter = WriteHealthResponse,
        });
        app.MapHealthChecks(AlivenessEndpointPath, new HealthCheckOptions
        {
            Predicate = r => r.Tags.Contains(LiveTag),
        });
        return app;
    }

    private static Task WriteHealthResponse(HttpContext context, HealthReport report)
    {
        context.Response.ContentType = "text/plain; charset=utf-8";
        var reasons = report.Entries
            .Where(e => e.Value.Status != HealthStatus.Healthy && e.Value.Description is not null)
            .Select(e => $"{e.Key}: {e.Value.Description}");
        var text = report.Status.ToString();
        var detail = string.Join("; ", reasons);
        return context.Response.WriteAsync(detail.Length == 0 ? text : $"{text} ({detail})");
    }
}
