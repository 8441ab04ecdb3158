using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace AspireCache.Node.Raft;

/// <summary>Healthy only when this node is in a cluster with a known leader.</summary>
internal sealed class RaftHealthCheck(ClusterView cluster) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var leader = cluster.Leader;
        return Task.FromResult(leader.LeaderId is null
            ? HealthCheckResult.Unhealthy($"no leader known (term {cluster.Term})")
            : HealthCheckResult.Healthy($"{cluster.Role}; leader {leader.LeaderId}, term {cluster.Term}, applied {cluster.AppliedIndex}"));
    }
}
