using System.ComponentModel.DataAnnotations;

namespace AspireCache.Node.Api;

/// <summary>Request limits; every one of them is enforced before anything is proposed.</summary>
public sealed class CacheLimitsOptions
{
    public const string SectionName = "Cache:Limits";

    /// <summary>Largest value accepted by PUT (and per value in a batch). Default 1 MiB.</summary>
    [Range(1, 64 * 1024 * 1024)]
    public int MaxValueBytes { get; set; } = 1024 * 1024;

    /// <summary>Largest key, in UTF-8 bytes.</summary>
    [Range(1, 4096)]
    public int MaxKeyBytes { get; set; } = 512;

    /// <summary>Most keys (sets + deletes) in one batch.</summary>
    [Range(1, 100_000)]
    public int MaxBatchKeys { get; set; } = 1000;

    /// <summary>Largest batch request body. Default 4 MiB.</summary>
    [Range(1, 256 * 1024 * 1024)]
    public int MaxBatchBytes { get; set; } = 4 * 1024 * 1024;

    /// <summary>Most keys in one listing page.</summary>
    [Range(1, 100_000)]
    public int MaxListLimit { get; set; } = 1000;

    /// <summary>Value bytes in one listing page before it is cut short (the page then says there is more).</summary>
    [Range(1, 256 * 1024 * 1024)]
    public int MaxListBytes { get; set; } = 4 * 1024 * 1024;

    /// <summary>Longest TTL accepted.</summary>
    public TimeSpan MaxTtl { get; set; } = TimeSpan.FromDays(365);

    /// <summary>The limits as <c>/cluster/status</c> publishes them (the console explains them before a node refuses).</summary>
    public RequestLimits Published => new(MaxValueBytes, MaxKeyBytes, MaxBatchKeys, MaxBatchBytes, (long)MaxTtl.TotalSeconds, MaxListLimit);
}
