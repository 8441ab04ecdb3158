using Aspire.Hosting.ApplicationModel;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Aspire.Hosting;

/// <summary>
/// The cluster's health as its router sees it: <c>GET /health</c> on the router answers 200 "Healthy"
/// with a known leader, 200 "Degraded …" while nodes answer but no leader is known, 503 otherwise.
/// </summary>
internal sealed class AspireCacheHealthCheck(AspireCacheResource cache) : IHealthCheck
{
    private static readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(5) };

    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        try
        {
            var router = cache.RouterEndpoint;
            if (!router.IsAllocated)
            {
                return HealthCheckResult.Unhealthy($"router '{cache.Router.Name}' has no endpoint yet");
            }

            using var response = await Http.GetAsync(new Uri(new Uri(router.Url), "/health"), cancellationToken).ConfigureAwait(false);
            var text = (await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false)).Trim();
            var detail = $"router '{cache.Router.Name}': {(text.Length == 0 ? $"HTTP {(int)response.StatusCode}" : text)}";
            if (!response.IsSuccessStatusCode)
            {
                return HealthCheckResult.Unhealthy(detail);
            }

            return text.StartsWith(nameof(HealthStatus.Degraded), StringComparison.OrdinalIgnoreCase)
                ? HealthCheckResult.Degraded(detail)
                : HealthCheckResult.Healthy(detail);
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException && !cancellationToken.IsCancellationRequested)
        {
            return HealthCheckResult.Unhealthy($"router '{cache.Router.Name}' unreachable: {ex.Message}");
        }
    }
}
