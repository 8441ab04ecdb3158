using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace AspireCache.Client;

/// <summary>Healthy when <c>GET /health</c> on the endpoint answers 2xx (the router: a node with a known leader is reachable).</summary>
internal sealed class AspireCacheHealthCheck(IHttpClientFactory factory, string httpClientName) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        try
        {
            using var response = await factory.CreateClient(httpClientName).GetAsync("/health", cancellationToken).ConfigureAwait(false);
            return response.IsSuccessStatusCode
                ? HealthCheckResult.Healthy()
                : new HealthCheckResult(context.Registration.FailureStatus, $"GET /health answered {(int)response.StatusCode}.");
        }
        catch (Exception ex) when (ex is HttpRequestException or OperationCanceledException && !cancellationToken.IsCancellationRequested)
        {
            return new HealthCheckResult(context.Registration.FailureStatus, "GET /health failed.", ex);
        }
    }
}
