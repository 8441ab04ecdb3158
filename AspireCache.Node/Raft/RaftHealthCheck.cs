using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;

namespace AspireCache.Node.Raft;

/// <summary>
/// Unhealthy when it stopped applying (an entry it cannot read) or without a known leader (the node can serve no linearizable request); Degraded when
/// it has fallen far behind the commit index (it answers, but slowly); Healthy otherwise.
/// </summary>
internal sealed class RaftHealthCheck(ClusterView cluster, IOptions<ClusterOptions> options) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(Evaluate(cluster.Leader.LeaderId, cluster.Role, cluster.Term, cluster.AppliedIndex, cluster.CommitIndex, options.Value.DegradedApplyLag, cluster.ApplyHalted));

    /// <summary>The health decision from a node's Raft view.</summary>
    public static HealthCheckResult Evaluate(string? leaderId, string role, long term, long applied, long commit, long degradedApplyLag, string? applyHalted = null)
    {
        if (applyHalted is not null)
        {
            return HealthCheckResult.Unhealthy(applyHalted);
        }

        if (leaderId is null)
        {
            return HealthCheckResult.Unhealthy($"no leader known (term {term})");
        }

        var lag = commit - applied;
        var description = $"{role}; leader {leaderId}, term {term}, applied {applied}, commit {commit}";
        return lag > degradedApplyLag
            ? HealthCheckResult.Degraded($"{lag} committed entries not yet applied; {description}")
            : HealthCheckResult.Healthy(description);
    }
}
