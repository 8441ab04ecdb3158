using System.ComponentModel.DataAnnotations;

namespace AspireCache.Node.Eviction;

/// <summary>Memory budget and LRU eviction (section <c>Cache:Eviction</c>).</summary>
public sealed class EvictionOptions
{
    public const string SectionName = "Cache:Eviction";

    /// <summary>
    /// Budget for keys + values + per-entry overhead. 0 (default) = a quarter of the memory
    /// available to the process. Only the leader's setting matters: it decides evictions.
    /// </summary>
    [Range(0, long.MaxValue)]
    public long MemoryBudgetBytes { get; set; }

    /// <summary>Writes that add bytes are refused (507) above budget × this factor: eviction cannot keep up, or pinned keys fill the budget.</summary>
    [Range(1.0, 10.0)]
    public double HardLimitFactor { get; set; } = 1.25;

    /// <summary>Keys sampled per eviction choice (Redis-style approximate LRU).</summary>
    [Range(1, 1024)]
    public int SampleSize { get; set; } = 32;

    /// <summary>How often the leader checks the budget, and followers report accesses.</summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "00:10:00")]
    public TimeSpan Interval { get; set; } = TimeSpan.FromMilliseconds(250);

    /// <summary>Most distinct keys a follower reports per interval (sampled beyond).</summary>
    [Range(1, 1_000_000)]
    public int MaxReportedKeys { get; set; } = 10_000;

    /// <summary>Most keys the leader's access table tracks (beyond, new keys fall back to their last write time).</summary>
    [Range(1, 100_000_000)]
    public int MaxTrackedKeys { get; set; } = 1_000_000;

    public long ResolveBudget() => MemoryBudgetBytes > 0 ? MemoryBudgetBytes : GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / 4;
}
