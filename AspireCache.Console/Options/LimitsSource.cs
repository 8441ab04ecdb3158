using System.Net.Http.Json;
using AspireCache.Contracts;
using Microsoft.Extensions.Options;

namespace AspireCache.Console.Options;

/// <summary>
/// The limits the console explains and enforces in its forms: the cluster's own, as its nodes publish them
/// in <c>/cluster/status</c> (read whenever the console reads a status: an operator's sign-in, the cluster
/// page, its readiness check), and until the first such answer the configured <c>Console:Limits</c>, whose
/// defaults are the nodes'. <see cref="CacheLimits.WarnAt"/> is always the console's own.
/// </summary>
public sealed class LimitsSource(IOptions<CacheLimits> configured)
{
    private CacheLimits? _reported;

    /// <summary>The limits in force: the cluster's last published ones, else the configured ones.</summary>
    public CacheLimits Current => Volatile.Read(ref _reported) ?? configured.Value;

    /// <summary>Whether <see cref="Current"/> came from the cluster.</summary>
    public bool FromCluster => Volatile.Read(ref _reported) is not null;

    /// <summary>Takes the limits a node published (null: a node that publishes none; nothing changes).</summary>
    public void Observe(RequestLimits? limits)
    {
        if (limits is null || limits.MaxValueBytes <= 0 || limits.MaxKeyBytes <= 0 || limits.MaxBatchKeys <= 0 || limits.MaxBatchBytes <= 0 || limits.MaxTtlSeconds <= 0)
        {
            return;
        }

        Volatile.Write(ref _reported, new CacheLimits
        {
            MaxValueBytes = limits.MaxValueBytes,
            MaxKeyBytes = limits.MaxKeyBytes,
            MaxBatchKeys = limits.MaxBatchKeys,
            MaxBatchBytes = limits.MaxBatchBytes,
            MaxTtl = TimeSpan.FromSeconds(limits.MaxTtlSeconds),
            WarnAt = configured.Value.WarnAt,
        });
    }

    /// <summary>Takes the limits from a successful <c>/cluster/status</c> answer; a body that is not a status changes nothing.</summary>
    public async Task ObserveAsync(HttpResponseMessage status, CancellationToken cancellationToken)
    {
        if (!status.IsSuccessStatusCode)
        {
            return;
        }

        try
        {
            Observe((await status.Content.ReadFromJsonAsync<ClusterStatusResponse>(cancellationToken))?.Limits);
        }
        catch (System.Text.Json.JsonException)
        {
        }
    }
}
