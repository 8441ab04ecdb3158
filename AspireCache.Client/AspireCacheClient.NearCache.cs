using System.Net.Http.Json;
using AspireCache.Contracts;

namespace AspireCache.Client;

public sealed partial class AspireCacheClient
{
    /// <summary>
    /// <c>POST /cache/hot</c>: reads the near cache answered since the last report, so the cluster
    /// counts them for its hot keys and LRU. Best effort: a failed report is dropped (it only
    /// informs statistics), never retried into the next one.
    /// </summary>
    internal async Task ReportAccessAsync(Dictionary<string, long> keys, CancellationToken cancellationToken)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(_options.Deadline);
        try
        {
            using var request = Prepare(new HttpRequestMessage(HttpMethod.Post, CachePaths.HotKeys), leader: _direct?.Target(write: true), idempotencyKey: null);
            request.Content = JsonContent.Create(new AccessReport(keys), ClientJsonContext.Default.AccessReport);
            using var response = await _http().SendAsync(request, deadline.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is HttpRequestException || (ex is OperationCanceledException && !cancellationToken.IsCancellationRequested))
        {
        }
    }
}
