namespace AspireCache.AppHost;

/// <summary>AppHost settings (section <c>AspireCache</c>), e.g. <c>--AspireCache:DataRoot=/tmp/x</c>.</summary>
internal sealed class AppHostOptions
{
    public const string SectionName = "AspireCache";

    /// <summary>Where node data directories (<c>{DataRoot}/{node}</c>) live in run mode. Default: <c>.data</c> beside the AppHost project.</summary>
    public string? DataRoot { get; set; }

    /// <summary>
    /// Fixed ports of node1..node3's client (<c>http</c>) endpoints in run mode. Missing or 0 (default) picks
    /// free ports at start. Empty by default, so that <c>--AspireCache:NodePorts:0=…</c> sets node1's port (an
    /// array bound from configuration is appended to its initial elements: <c>[0, 0, 0]</c> became <c>[0, 0, 0, …]</c>).
    /// Ports are fixed for the AppHost's lifetime so a restarted node keeps the URL clients were given.
    /// </summary>
    public int[] NodePorts { get; set; } = [];

    /// <summary>
    /// Fixed ports of node1..node3's <c>cluster</c> endpoints (Raft and node-to-node calls) in run mode.
    /// Missing or 0 (default) picks free ports at start; fixed for the AppHost's lifetime (a node's Raft address).
    /// </summary>
    public int[] ClusterPorts { get; set; } = [];

    /// <summary>The router's port in run mode (the one the README's curl examples use).</summary>
    public int? RouterPort { get; set; } = 5080;

    /// <summary>Entries between snapshots on every node (tests lower it to exercise snapshots).</summary>
    public long SnapshotInterval { get; set; } = 10_000;

    /// <summary>Raft election timeouts the AppHost gives every node (the node's own defaults).</summary>
    public int LowerElectionTimeoutMs { get; set; } = 50;

    /// <summary>See <see cref="LowerElectionTimeoutMs"/>.</summary>
    public int UpperElectionTimeoutMs { get; set; } = 100;

    /// <summary>Socket completions and Kestrel's request handling inline on the nodes and the router (see AspireCacheClusterOptions). Default on.</summary>
    public bool InlineSocketCompletions { get; set; } = true;
}
