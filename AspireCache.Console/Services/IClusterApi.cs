namespace AspireCache.Console.Services;

/// <summary>
/// The calls the console makes that <see cref="Client.IAspireCacheClient"/> does not offer, each with
/// the operator's own key: checking a credential, a key's detail with its <c>Last-Modified</c>, where a
/// node's watch history starts, and the cluster's state (status, router topology, hot keys per node).
/// </summary>
public interface IClusterApi
{
    /// <summary><c>GET /cluster/status</c> with the credential: accepted, unknown (401), without the read scope (403), or no answer.</summary>
    Task<CredentialCheck> CheckCredentialAsync(CancellationToken cancellationToken = default);

    /// <summary><c>GET /cache/{key}</c> (linearizable): the value and every header the detail page shows; null if absent.</summary>
    Task<KeyDetails?> GetKeyAsync(string key, CancellationToken cancellationToken = default);

    /// <summary>Where the answering node's watch history for <paramref name="prefix"/> starts (a 410's <c>oldestRevision</c>, or 0).</summary>
    Task<HistoryStart> HistoryStartAsync(string prefix, CancellationToken cancellationToken = default);

    /// <summary>Status through the router, the router's topology, then each member's own status and hot keys.</summary>
    Task<ClusterReport> ReportAsync(int hotKeys, CancellationToken cancellationToken = default);
}
