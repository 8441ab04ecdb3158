using System.ComponentModel.DataAnnotations;

namespace AspireCache.Console.Options;

/// <summary>The console's own settings (section <c>Console</c>).</summary>
public sealed class ConsoleOptions
{
    public const string SectionName = "Console";

    /// <summary>The connection string naming the cluster: <c>ConnectionStrings:{name}</c> = <c>Endpoint=&lt;router url&gt;;Key=&lt;key&gt;</c>.</summary>
    [Required]
    public string ConnectionName { get; set; } = "cache";

    /// <summary>Keys per page in the browser (each page is one list call).</summary>
    [Range(1, 1000)]
    public int PageSize { get; set; } = 50;

    /// <summary>Most list pages one filtered view scans before it shows what it found (each up to 1,000 keys).</summary>
    [Range(1, 100)]
    public int FilterScanPages { get; set; } = 10;

    /// <summary>Events the live view keeps on screen (older ones scroll away).</summary>
    [Range(10, 10_000)]
    public int LiveMaxEvents { get; set; } = 500;

    /// <summary>Most recent changes the history view shows (the newest ones).</summary>
    [Range(10, 10_000)]
    public int HistoryMaxEvents { get; set; } = 200;

    /// <summary>Longest time the history view reads the node's history before showing what it has.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "00:01:00")]
    public TimeSpan HistoryReadTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How often the cluster view refreshes itself.</summary>
    [Range(typeof(TimeSpan), "00:00:00.500", "00:10:00")]
    public TimeSpan ClusterRefreshInterval { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>Timeout of each per-node call of the cluster view (a node the console cannot reach is shown as such).</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "00:01:00")]
    public TimeSpan NodeCallTimeout { get; set; } = TimeSpan.FromSeconds(2);
}
