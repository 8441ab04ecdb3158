namespace AspireCache.Client;

/// <summary>
/// The near cache: values kept in this process, kept exact by one watch stream, so that hot reads
/// cost no network round trip (<see cref="Consistency.BoundedStaleness"/>, <see cref="Consistency.Stale"/>)
/// or one small shared one (<see cref="Consistency.LinearizableNearCache"/>). Off unless
/// <see cref="AspireCacheClientOptions.NearCache"/> is set; only reads that ask for one of those
/// consistencies use it.
/// </summary>
public sealed class NearCacheOptions
{
    /// <summary>Key prefixes whose keys are cached (for example <c>config/</c>). Keys outside them are cached only as <see cref="HotKeys"/>.</summary>
    public IList<string> Prefixes { get; set; } = [];

    /// <summary>
    /// Also cache up to this many keys outside <see cref="Prefixes"/> that this process reads most
    /// through the near cache (default 0: off; at most 256). The set is re-evaluated every
    /// <see cref="HotKeyInterval"/>; a change re-opens the watch stream exactly where it was.
    /// </summary>
    public int HotKeys { get; set; }

    /// <summary>How often the automatic hot-key set is re-evaluated (default 5 s).</summary>
    public TimeSpan HotKeyInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Most entries kept (default 10,000); least recently used ones are dropped beyond it.</summary>
    public int MaxEntries { get; set; } = 10_000;

    /// <summary>Most bytes of keys and values kept (default 64 MiB); least recently used entries are dropped beyond it.</summary>
    public long MaxBytes { get; set; } = 64L << 20;

    /// <summary>Largest value kept (default 256 KiB): bigger values are always read from the cluster.</summary>
    public int MaxValueBytes { get; set; } = 256 << 10;

    /// <summary>
    /// Default bound of <see cref="Consistency.BoundedStaleness"/> reads (default 1 s), overridden
    /// per call by <see cref="ReadOptions.MaxStaleness"/>.
    /// </summary>
    public TimeSpan MaxStaleness { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// How long a read waits for the stream to reach the revision it needs before it asks the
    /// cluster instead (default 500 ms). A stream served by a node cut off from the leader never gets
    /// there; a read then costs this much more than a plain linearizable read.
    /// </summary>
    public TimeSpan ProgressWait { get; set; } = TimeSpan.FromMilliseconds(500);

    /// <summary>How often reads answered locally are reported to the cluster (<c>POST /cache/hot</c>; default 1 s).</summary>
    public TimeSpan AccessReportInterval { get; set; } = TimeSpan.FromSeconds(1);
}
