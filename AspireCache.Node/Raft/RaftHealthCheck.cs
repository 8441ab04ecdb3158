using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;

namespace AspireCache.Node.Raft;

/// <summary>
/// Unhealthy without a known leader (the node can serve no linearizable request); Degraded when
/// it has fallen far behind the commit index (it answers, but slowly); Healthy otherwise.
/// </summary>
internal sealed class RaftHealthCheck(ClusterView cluster, IOptions<ClusterOptions> options) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var leader = cluster.Leader;
        if (leader.LeaderId is null)
        {
            return Task.FromResult(HealthCheckResult.Unhealthy($"no leader known (term {cluster.Term})"));
        }

        var lag = cluster.CommitIndex - cluster.AppliedIndex;
        var description = $"{cluster.Role}; leader {leader.LeaderId}, term {cluster.Term}, applied {cluster.AppliedIndex}, commit {cluster.CommitIndex}";
        return Task.FromResult(lag > options.Value.DegradedApplyLag
            ? HealthCheckResult.Degraded($"{lag} committed entries not yet applied; {description}")
            : HealthCheckResult.Healthy(description));
    }
}
