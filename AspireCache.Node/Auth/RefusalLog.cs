using AspireCache.Node.Diagnostics;

namespace AspireCache.Node.Auth;

/// <summary>
/// Keeps a flood of refused node-to-node requests (forged or replayed Raft messages, peer traffic on
/// a client endpoint) from flooding the log: the first refusal of each reason is logged at once,
/// later ones at most once per <see cref="Interval"/> per reason, each line saying how many were
/// refused without a line since the previous one. The metric
/// (<c>aspirecache.cluster.auth.rejected</c>) still counts every refusal. One entry per reason: the
/// reasons are a fixed set.
/// </summary>
internal sealed class RefusalLog(TimeProvider clock, NodeTelemetry telemetry, ILogger<RefusalLog> logger)
{
    public static readonly TimeSpan Interval = TimeSpan.FromSeconds(1);

    private readonly LogSampler _sampler = new(clock, Interval);

    /// <summary>
    /// Counts a refused node-to-node request under <paramref name="reason"/> and logs it (event 1042,
    /// sampled) as <paramref name="logReason"/>: method, path, Raft message type, remote address.
    /// </summary>
    public void Refused(HttpContext context, string reason, string logReason)
    {
        telemetry.ClusterAuthRejected(reason);
        if (ShouldLog(reason, out var suppressed))
        {
            var messageType = context.Request.Headers["X-Raft-Message-Type"].ToString();
            NodeLog.ClusterRequestRefused(logger, context.Request.Method, context.Request.Path, messageType.Length == 0 ? "(none)" : messageType[..Math.Min(messageType.Length, 32)], logReason, context.Connection.RemoteIpAddress?.ToString() ?? "(unknown)", suppressed);
        }
    }

    /// <summary>Whether to log this refusal now; if so, <paramref name="suppressed"/> is how many were not logged since the last line.</summary>
    public bool ShouldLog(string reason, out long suppressed) => _sampler.ShouldLog(reason, out suppressed);
}
