using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using AspireCache.Router.Diagnostics;
using AspireCache.Router.RateLimiting;
using Microsoft.Extensions.Options;

namespace AspireCache.Router.Topology;

/// <summary>
/// Who may read <c>GET /router/topology</c> when the nodes enforce authentication
/// (<see cref="RouterOptions.IsTopologyProtected"/>). The router holds no client keys, so it asks a
/// node: the caller's bearer key is sent to <c>/cluster/status</c> (which needs the <c>read</c> scope
/// and shows the same facts), and the answer — 200, 401 or 403 — is the caller's. Outcomes are
/// remembered by the key's SHA-256 (accepted 10 s, refused 2 s; at most 1,024, gauge
/// <c>aspirecache.router.credential_cache.entries</c>), so a dashboard polling the topology costs a
/// node one status request per 10 s; a revoked key is refused within 10 s.
/// </summary>
internal sealed class TopologyAccess
{
    public const int MaxCached = 1024;
    private static readonly TimeSpan AcceptedFor = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan RefusedFor = TimeSpan.FromSeconds(2);

    private readonly ConcurrentDictionary<CallerKey, Outcome> _cache = new();
    private readonly IHttpClientFactory _httpClientFactory;
    private readonly TopologyMonitor _monitor;
    private readonly RouterTelemetry _telemetry;
    private readonly IProblemDetailsService _problems;
    private readonly RouterOptions _options;
    private int _count;

    public TopologyAccess(IHttpClientFactory httpClientFactory, TopologyMonitor monitor, RouterTelemetry telemetry, IOptions<RouterOptions> options, IProblemDetailsService problems)
    {
        _httpClientFactory = httpClientFactory;
        _monitor = monitor;
        _telemetry = telemetry;
        _problems = problems;
        _options = options.Value;
        telemetry.ObserveCredentialCache(() => Cached);
    }

    public bool Required => _options.IsTopologyProtected;

    /// <summary>Outcomes remembered now.</summary>
    public int Cached => Volatile.Read(ref _count);

    /// <summary>True when the caller may read the topology; otherwise the refusal (401, 403 or 503) was written.</summary>
    public async Task<bool> AuthorizeAsync(HttpContext context)
    {
        if (!Required)
        {
            return true;
        }

        var authorization = context.Request.Headers.Authorization;
        var header = authorization.Count == 1 ? authorization[0] : null;
        if (!CallerKey.TryHashBearer(header, out var key))
        {
            await RefuseAsync(context, StatusCodes.Status401Unauthorized, "Bearer");
            return false;
        }

        var now = Stopwatch.GetTimestamp();
        if (!_cache.TryGetValue(key, out var outcome) || outcome.ExpiresAt <= now)
        {
            var status = await AskNodeAsync(CallerKey.BearerToken(header).ToString(), context.RequestAborted);
            _telemetry.CredentialChecked(status switch
            {
                StatusCodes.Status200OK => "accepted",
                StatusCodes.Status401Unauthorized => "unauthenticated",
                StatusCodes.Status403Forbidden => "forbidden",
                _ => "unavailable",
            });
            if (status == StatusCodes.Status503ServiceUnavailable)
            {
                await UnavailableAsync(context);
                return false;
            }

            outcome = new Outcome(status, Stopwatch.GetTimestamp() + (long)((status == StatusCodes.Status200OK ? AcceptedFor : RefusedFor).TotalSeconds * Stopwatch.Frequency));
            Remember(key, outcome);
        }

        switch (outcome.Status)
        {
            case StatusCodes.Status200OK:
                return true;
            case StatusCodes.Status403Forbidden:
                await RefuseAsync(context, StatusCodes.Status403Forbidden, "Bearer error=\"insufficient_scope\", scope=\"read\"");
                return false;
            default:
                await RefuseAsync(context, StatusCodes.Status401Unauthorized, "Bearer error=\"invalid_token\"");
                return false;
        }
    }

    /// <summary>The status a node answers <c>/cluster/status</c> with for this key (200, 401, 403), or 503 when none answers.</summary>
    private async Task<int> AskNodeAsync(string token, CancellationToken aborted)
    {
        var client = _httpClientFactory.CreateClient(TopologyMonitor.HttpClientName);
        foreach (var node in Candidates())
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(aborted);
            timeout.CancelAfter(_options.ProbeTimeout);
            using var request = new HttpRequestMessage(HttpMethod.Get, $"{_options.NodeScheme}://{node}/cluster/status");
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token); // the caller's, not the router's
            try
            {
                using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
                switch (response.StatusCode)
                {
                    case HttpStatusCode.OK:
                        return StatusCodes.Status200OK;
                    case HttpStatusCode.Unauthorized:
                        return StatusCodes.Status401Unauthorized;
                    case HttpStatusCode.Forbidden:
                        return StatusCodes.Status403Forbidden;
                }
            }
            catch (Exception ex) when (ex is HttpRequestException || (ex is OperationCanceledException && !aborted.IsCancellationRequested))
            {
                // This node cannot answer now: ask the next.
            }
        }

        aborted.ThrowIfCancellationRequested();
        return StatusCodes.Status503ServiceUnavailable;
    }

    /// <summary>Healthy nodes nearest first, then the others.</summary>
    private IEnumerable<string> Candidates()
    {
        var views = _monitor.Current.Nodes;
        return _options.Nodes
            .OrderBy(n => views.TryGetValue(n, out var v) && v.Healthy ? 0 : 1)
            .ThenBy(n => views.TryGetValue(n, out var v) ? v.LatencyMs : double.MaxValue);
    }

    private void Remember(CallerKey key, Outcome outcome)
    {
        if (_cache.TryGetValue(key, out _))
        {
            _cache[key] = outcome;
            return;
        }

        if (Volatile.Read(ref _count) >= MaxCached)
        {
            DropExpired();
            if (Volatile.Read(ref _count) >= MaxCached)
            {
                return; // full of live entries: checked again next time
            }
        }

        if (_cache.TryAdd(key, outcome))
        {
            Interlocked.Increment(ref _count);
        }
        else
        {
            _cache[key] = outcome;
        }
    }

    private void DropExpired()
    {
        var now = Stopwatch.GetTimestamp();
        foreach (var entry in _cache)
        {
            if (entry.Value.ExpiresAt <= now && _cache.TryRemove(entry))
            {
                Interlocked.Decrement(ref _count);
            }
        }
    }

    private Task RefuseAsync(HttpContext context, int status, string challenge)
    {
        context.Response.StatusCode = status;
        context.Response.Headers.WWWAuthenticate = challenge;
        var unauthenticated = status == StatusCodes.Status401Unauthorized;
        return _problems.WriteAsync(new ProblemDetailsContext
        {
            HttpContext = context,
            ProblemDetails =
            {
                Status = status,
                Type = ProblemTypes.Base + (unauthenticated ? "unauthenticated" : "forbidden"),
                Title = unauthenticated ? "Authentication required" : "The credential lacks the scope",
                Detail = unauthenticated
                    ? "The router's topology needs a credential the cluster accepts, sent as 'Authorization: Bearer <key>'."
                    : "The router's topology needs a credential with the 'read' scope.",
            },
        }).AsTask();
    }

    private Task UnavailableAsync(HttpContext context)
    {
        context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
        context.Response.Headers.RetryAfter = _options.RetryAfterSeconds.ToString(CultureInfo.InvariantCulture);
        return _problems.WriteAsync(new ProblemDetailsContext
        {
            HttpContext = context,
            ProblemDetails =
            {
                Status = StatusCodes.Status503ServiceUnavailable,
                Type = ProblemTypes.NoNode,
                Title = "No node is available",
                Detail = "No node could check the credential (the topology is shown only to callers the cluster accepts). Retry after the indicated delay.",
            },
        }).AsTask();
    }

    private readonly record struct Outcome(int Status, long ExpiresAt);
}
