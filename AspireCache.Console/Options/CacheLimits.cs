using System.ComponentModel.DataAnnotations;

namespace AspireCache.Console.Options;

/// <summary>
/// The nodes' request limits as the console explains them before the server refuses (section
/// <c>Console:Limits</c>). The defaults are the nodes' (<c>Cache:Limits</c> in AspireCache.Node's
/// <c>CacheLimitsOptions</c>); a cluster configured otherwise needs the same values here. The nodes
/// still enforce their own: these only decide what the console warns about and what it disables.
/// </summary>
public sealed class CacheLimits
{
    public const string SectionName = "Console:Limits";

    /// <summary>Largest value a PUT (or one value of a batch) may carry (<c>Cache:Limits:MaxValueBytes</c>, 1 MiB).</summary>
    [Range(1, 64 * 1024 * 1024)]
    public int MaxValueBytes { get; set; } = 1024 * 1024;

    /// <summary>Largest key in UTF-8 bytes (<c>Cache:Limits:MaxKeyBytes</c>, 512).</summary>
    [Range(1, 4096)]
    public int MaxKeyBytes { get; set; } = 512;

    /// <summary>Most keys (sets + deletes) in one batch (<c>Cache:Limits:MaxBatchKeys</c>, 1,000).</summary>
    [Range(1, 100_000)]
    public int MaxBatchKeys { get; set; } = 1000;

    /// <summary>Largest batch request body, values in base64 (<c>Cache:Limits:MaxBatchBytes</c>, 4 MiB).</summary>
    [Range(1, 256 * 1024 * 1024)]
    public int MaxBatchBytes { get; set; } = 4 * 1024 * 1024;

    /// <summary>Longest TTL accepted (<c>Cache:Limits:MaxTtl</c>, 365 days).</summary>
    public TimeSpan MaxTtl { get; set; } = TimeSpan.FromDays(365);

    /// <summary>From this share of a limit on, the console warns.</summary>
    [Range(0.1, 1.0)]
    public double WarnAt { get; set; } = 0.8;
}
