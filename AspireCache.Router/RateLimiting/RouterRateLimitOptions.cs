using System.ComponentModel.DataAnnotations;

namespace AspireCache.Router.RateLimiting;

/// <summary>
/// Per-caller rate limiting on the router (section <c>Router:RateLimit</c>): a token bucket per
/// credential (keyed by a hash of the bearer key, never the key) or, for a caller without a bearer
/// key, per remote address (IPv6: per /64). Over its bucket a request is answered 429 with
/// <c>Retry-After</c> at once and never reaches a node. <c>/health</c> and <c>/alive</c> are not
/// limited; a watch stream counts once, when it opens.
/// </summary>
public sealed class RouterRateLimitOptions
{
    public const string SectionName = "Router:RateLimit";

    /// <summary>Whether the router limits request rates at all.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>
    /// Sustained requests per second one caller may send (the bucket's refill rate). Fractions are
    /// allowed (0.1: one request per 10 s). The default is far above what one router forwards
    /// (~20,000 requests/s on the benchmark box): it stops a runaway client, not normal use.
    /// </summary>
    [Range(0.001, 100_000_000)]
    public double PermitsPerSecond { get; set; } = 50_000;

    /// <summary>Requests one caller may send at once after being idle (the bucket's size).</summary>
    [Range(1, 100_000_000)]
    public int Burst { get; set; } = 50_000;

    /// <summary>
    /// Callers (credentials and addresses) tracked at most. When the table is full, a caller not in
    /// it shares one overflow bucket with every other such caller until idle entries are dropped
    /// (a caller whose bucket refilled and that sent nothing for <see cref="IdleTimeout"/>).
    /// </summary>
    [Range(1, 10_000_000)]
    public int MaxPartitions { get; set; } = 10_000;

    /// <summary>A caller that sent nothing for this long (and whose bucket refilled) is dropped from the table.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "01:00:00")]
    public TimeSpan IdleTimeout { get; set; } = TimeSpan.FromSeconds(30);
}
