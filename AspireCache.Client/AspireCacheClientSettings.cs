namespace AspireCache.Client;

/// <summary>
/// Settings of the AspireCache client integration, bound from <c>Aspire:AspireCache:Client</c>
/// (then <c>Aspire:AspireCache:Client:{name}</c>); the connection string <c>ConnectionStrings:{name}</c>
/// (<c>Endpoint=&lt;router url&gt;[;Key=&lt;credential&gt;]</c>) overrides <see cref="Endpoint"/> and <see cref="Key"/>.
/// </summary>
public sealed class AspireCacheClientSettings
{
    /// <summary>The router's URL (or a node's).</summary>
    public Uri? Endpoint { get; set; }

    /// <summary>A credential sent as <c>Authorization: Bearer</c>, if set (the connection string's <c>Key=</c>; required when the cluster enforces authentication).</summary>
    public string? Key { get; set; }

    /// <summary>Deadline of each call, retries included (default 10 s).</summary>
    public TimeSpan Deadline { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Longest pause between attempts, whatever <c>Retry-After</c> asks (default 1 s).</summary>
    public TimeSpan MaxRetryDelay { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Follow <c>X-AspireCache-Leader-Url</c> of a 421 (default <c>true</c>); turn off when node URLs are not reachable from this app.</summary>
    public bool FollowLeaderUrl { get; set; } = true;

    /// <summary>
    /// Direct mode (see <see cref="AspireCacheClientOptions.Nodes"/>): the nodes' URLs, e.g.
    /// <c>"Nodes": [ "http://node1:5101", ... ]</c>. Writes and linearizable reads go to the leader,
    /// stale reads and watches to the nearest node, with no router hop. Empty: everything goes to <see cref="Endpoint"/>.
    /// </summary>
    public IList<Uri> Nodes { get; set; } = [];

    /// <summary>Direct mode: linearizable reads to the leader (default <c>true</c>; see <see cref="AspireCacheClientOptions.LinearizableReadsToLeader"/>).</summary>
    public bool LinearizableReadsToLeader { get; set; } = true;

    /// <summary>Concurrent reads to one target travel together (default <c>true</c>; see <see cref="AspireCacheClientOptions.CoalesceReads"/>).</summary>
    public bool CoalesceReads { get; set; } = true;

    /// <summary>Concurrent single-key writes to one target travel together (default <c>true</c>; see <see cref="AspireCacheClientOptions.CoalesceWrites"/>).</summary>
    public bool CoalesceWrites { get; set; } = true;

    /// <summary>
    /// The near cache (off unless set), e.g. <c>"NearCache": { "Prefixes": [ "config/" ], "HotKeys": 100 }</c>
    /// in <c>Aspire:AspireCache:Client</c>. Reads use it when they ask for
    /// <see cref="Consistency.LinearizableNearCache"/>, <see cref="Consistency.BoundedStaleness"/> or
    /// <see cref="Consistency.Stale"/>, or when <see cref="DefaultConsistency"/> is one of those.
    /// </summary>
    public NearCacheOptions? NearCache { get; set; }

    /// <summary>Consistency of reads that do not name one (default <see cref="Consistency.Linearizable"/>).</summary>
    public Consistency DefaultConsistency { get; set; } = Consistency.Linearizable;

    /// <summary>Do not register the health check (GET <c>/health</c> on <see cref="Endpoint"/>).</summary>
    public bool DisableHealthChecks { get; set; }

    /// <summary>Timeout of the health check (default 5 s).</summary>
    public TimeSpan HealthCheckTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Do not add the <c>AspireCache.Client</c> activity source to OpenTelemetry tracing.</summary>
    public bool DisableTracing { get; set; }

    /// <summary>Do not add the <c>AspireCache.Client</c> meter to OpenTelemetry metrics.</summary>
    public bool DisableMetrics { get; set; }

    /// <summary>
    /// Applies a connection string: <c>Endpoint=…;Key=…</c> (keys case-insensitive), or a bare absolute URL.
    /// </summary>
    /// <param name="connectionString">The connection string.</param>
    public void ParseConnectionString(string? connectionString)
    {
        if (string.IsNullOrWhiteSpace(connectionString))
        {
            return;
        }

        if (Uri.TryCreate(connectionString, UriKind.Absolute, out var bare) && bare.Scheme is "http" or "https")
        {
            Endpoint = bare;
            return;
        }

        var builder = new System.Data.Common.DbConnectionStringBuilder { ConnectionString = connectionString };
        if (builder.TryGetValue("Endpoint", out var endpoint) && endpoint is string url)
        {
            Endpoint = Uri.TryCreate(url, UriKind.Absolute, out var uri)
                ? uri
                : throw new InvalidOperationException($"The AspireCache connection string's Endpoint '{url}' is not an absolute URL.");
        }

        if (builder.TryGetValue("Key", out var key) && key is string credential && credential.Length > 0)
        {
            Key = credential;
        }
    }
}
