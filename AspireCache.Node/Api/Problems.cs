using System.Globalization;
using AspireCache.Node.Diagnostics;
using AspireCache.Node.Raft;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;

namespace AspireCache.Node.Api;

/// <summary>
/// RFC 9457 problem types. Each <c>type</c> URI is stable: clients may switch on it.
/// </summary>
public static class Problems
{
    public const string TypeBase = ProblemTypes.Base;

    public const string LeaderHeader = CacheHeaders.Leader;
    public const string LeaderUrlHeader = CacheHeaders.LeaderUrl;

    public static ProblemHttpResult BadRequest(string title, string detail) =>
        Create(StatusCodes.Status400BadRequest, "invalid-request", title, detail);

    public static ProblemHttpResult InvalidKey(string detail) =>
        Create(StatusCodes.Status400BadRequest, "invalid-key", "The key is not valid", detail);

    public static ProblemHttpResult TooLarge(string detail) =>
        Create(StatusCodes.Status413PayloadTooLarge, "too-large", "The request is too large", detail);

    public static ProblemHttpResult UnsupportedMediaType(string title, string detail) =>
        Create(StatusCodes.Status415UnsupportedMediaType, "unsupported-media-type", title, detail);

    public static ProblemHttpResult KeyNotFound(string key) =>
        Create(StatusCodes.Status404NotFound, "key-not-found", ProblemTexts.KeyNotFoundTitle, ProblemTexts.KeyNotFoundDetail(key));

    public static ProblemHttpResult Create(int status, string type, string title, string detail, IDictionary<string, object?>? extensions = null) =>
        TypedResults.Problem(detail: detail, statusCode: status, title: title, type: TypeBase + type, extensions: extensions);
}

/// <summary>
/// Maps the cluster's "cannot serve this now" answers to HTTP: 421 + leader headers for a write
/// that reached a follower, 503 + Retry-After when there is no leader or time ran out; and any
/// unexpected error to a 500 problem without a stack trace.
/// </summary>
internal sealed class ClusterExceptionHandler(
    IProblemDetailsService problems,
    NodeTelemetry telemetry,
    IOptions<ClusterOptions> options,
    ILogger<ClusterExceptionHandler> logger) : IExceptionHandler
{
    public async ValueTask<bool> TryHandleAsync(HttpContext context, Exception exception, CancellationToken cancellationToken)
    {
        var (status, type, title, detail) = exception switch
        {
            ClusterUnavailableException { Reason: UnavailableReason.NotLeader } e =>
                (StatusCodes.Status421MisdirectedRequest, "not-leader", "This node is not the leader", e.Message),
            ClusterUnavailableException { Reason: UnavailableReason.LeadershipLost } e =>
                (StatusCodes.Status421MisdirectedRequest, "leadership-lost", "Leadership moved during the write; its outcome is unknown", e.Message),
            ClusterUnavailableException { Reason: UnavailableReason.NoLeader } e =>
                (StatusCodes.Status503ServiceUnavailable, "no-leader", "No leader is available", e.Message),
            ClusterUnavailableException { Reason: UnavailableReason.Overloaded } e =>
                (StatusCodes.Status503ServiceUnavailable, "overloaded", "Too many requests are waiting", e.Message),
            ClusterUnavailableException e =>
                (StatusCodes.Status503ServiceUnavailable, "timeout", "The cluster did not answer in time", e.Message),
            BadHttpRequestException { StatusCode: StatusCodes.Status413PayloadTooLarge } e =>
                (StatusCodes.Status413PayloadTooLarge, "too-large", "The request is too large", e.Message),
            BadHttpRequestException e =>
                (e.StatusCode, "invalid-request", "The request is not valid", e.Message),
            _ => (StatusCodes.Status500InternalServerError, "internal", "An unexpected error occurred", "The error was logged on the node."),
        };

        if (status == StatusCodes.Status500InternalServerError)
        {
            NodeLog.UnhandledError(logger, exception, context.Request.Path);
        }

        telemetry.Rejected(type);
        context.Response.StatusCode = status;
        if (exception is ClusterUnavailableException { Leader.LeaderId: { } leaderId } unavailable)
        {
            context.Response.Headers[Problems.LeaderHeader] = leaderId;
            context.Response.Headers[Problems.LeaderUrlHeader] = unavailable.Leader.LeaderUrl?.ToString();
        }

        if (status == StatusCodes.Status503ServiceUnavailable)
        {
            context.Response.Headers.RetryAfter = options.Value.RetryAfterSeconds.ToString(CultureInfo.InvariantCulture);
        }

        var problem = new ProblemDetailsContext
        {
            HttpContext = context,
            Exception = exception,
            ProblemDetails =
            {
                Status = status,
                Type = Problems.TypeBase + type,
                Title = title,
                Detail = detail,
            },
        };
        await problems.WriteProblemAsync(problem); // whatever the client accepts (these went out without a body: the API fuzzer)
        return true;
    }
}
