using System.Net.Http.Headers;
using AspireCache.Contracts;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace AspireCache.Console.Services;

/// <summary>
/// Ready when the cluster answers <c>/cluster/status</c> to the console's own key (the connection
/// string's): the cluster is reachable and knows the console. This is the only use of that key (besides
/// reading the request limits the status publishes, <see cref="Options.LimitsSource"/>); operators'
/// actions always carry their own.
/// </summary>
internal sealed class ClusterHealthCheck(IHttpClientFactory httpClients, ClusterEndpoint endpoint, Options.LimitsSource limits) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, CachePaths.ClusterStatus);
            if (endpoint.Settings.Key is { Length: > 0 } key)
            {
                request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
            }

            using var response = await httpClients.CreateClient(ClusterEndpoint.HttpClientName).SendAsync(request, cancellationToken);
            await limits.ObserveAsync(response, cancellationToken);

            return response.IsSuccessStatusCode
                ? HealthCheckResult.Healthy($"{endpoint.Url} answers")
                : new HealthCheckResult(context.Registration.FailureStatus, $"GET /cluster/status on {endpoint.Url} answered {(int)response.StatusCode}.");
        }
        catch (Exception ex) when (ex is HttpRequestException || (ex is OperationCanceledException && !cancellationToken.IsCancellationRequested))
        {
            return new HealthCheckResult(context.Registration.FailureStatus, $"{endpoint.Url} did not answer: {ex.Message}");
        }
    }
}
