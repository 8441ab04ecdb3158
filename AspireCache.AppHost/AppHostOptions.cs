namespace AspireCache.AppHost;

/// <summary>AppHost settings (section <c>AspireCache</c>), e.g. <c>--AspireCache:DataRoot=/tmp/x</c>.</summary>
internal sealed class AppHostOptions
{
    public const string SectionName = "AspireCache";

    /// <summary>Where node data directories (<c>{DataRoot}/{node}</c>) live in run mode. Default: <c>.data</c> beside the AppHost project.</summary>
    public string? DataRoot { get; set; }

    /// <summary>
    /// Fixed HTTP ports for node1..node3 in run mode. 0 (default) picks free ports at start.
    /// Ports are fixed for the AppHost's lifetime so a restarted node keeps its Raft address.
    /// </summary>
    public int[] NodePorts { get; set; } = [0, 0, 0];

    /// <summary>The router's port in run mode (the one the README's curl examples use).</summary>
    public int? RouterPort { get; set; } = 5080;

    /// <summary>Entries between snapshots on every node (tests lower it to exercise snapshots).</summary>
    public long SnapshotInterval { get; set; } = 10_000;

    public int LowerElectionTimeoutMs { get; set; } = 500;

    public int UpperElectionTimeoutMs { get; set; } = 1000;
}
