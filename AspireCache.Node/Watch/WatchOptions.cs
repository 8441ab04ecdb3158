using System.ComponentModel.DataAnnotations;

namespace AspireCache.Node.Watch;

/// <summary>Watch streams, their history and their bounds (section <c>Watch</c>).</summary>
public sealed class WatchOptions
{
    public const string SectionName = "Watch";

    /// <summary>Most events the node keeps for resuming (<c>afterRevision</c>, <c>Last-Event-ID</c>); older ones answer 410.</summary>
    [Range(1, 10_000_000)]
    public int HistoryMaxEvents { get; set; } = 100_000;

    /// <summary>Most bytes (keys, values and their encoded frames) the history keeps.</summary>
    [Range(64 * 1024, long.MaxValue)]
    public long HistoryMaxBytes { get; set; } = 64L * 1024 * 1024;

    /// <summary>Open watch streams this node serves at most; beyond it a new watch answers 503.</summary>
    [Range(1, 1_000_000)]
    public int MaxWatchers { get; set; } = 20_000;

    /// <summary>
    /// Open watch streams one credential (by name: both keys of a rotation count together) may hold on
    /// this node; beyond it a new watch answers 429 with <c>Retry-After</c>. Through the router a
    /// stream reaches the node with its caller's credential, so the limit is per client credential.
    /// With authentication off every stream shares one partition. Half of <see cref="MaxWatchers"/> by
    /// default: no one credential can take the whole node.
    /// </summary>
    [Range(1, 1_000_000)]
    public int MaxWatchersPerCredential { get; set; } = 10_000;

    /// <summary>Events queued for one stream at most (counted by log entry); a stream further behind is closed with the revision to resume from.</summary>
    [Range(1, 10_000_000)]
    public int WatcherBufferEvents { get; set; } = 10_000;

    /// <summary>Bytes queued for one stream at most.</summary>
    [Range(1024, long.MaxValue)]
    public long WatcherBufferBytes { get; set; } = 16L * 1024 * 1024;

    /// <summary>A stream that sent nothing for this long gets a leader-confirmed progress event (per stream: <c>progressIntervalMs</c>).</summary>
    [Range(typeof(TimeSpan), "00:00:00.050", "01:00:00")]
    public TimeSpan ProgressInterval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Most <c>prefix</c> and <c>key</c> filters on one stream.</summary>
    [Range(1, 1024)]
    public int MaxFiltersPerStream { get; set; } = 64;

    /// <summary>How long the final <c>event: error</c> may take to reach a stream that is being closed before the connection is cut.</summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "00:01:00")]
    public TimeSpan CloseTimeout { get; set; } = TimeSpan.FromSeconds(2);
}
