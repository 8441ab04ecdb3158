using AspireCache.Node.Raft;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace AspireCache.Tests.Unit;

public sealed class RaftHealthCheckTests
{
    [Fact]
    public void Without_a_known_leader_a_node_is_unhealthy()
    {
        var result = RaftHealthCheck.Evaluate(null, "follower", 7, 10, 10, 10_000);

        Assert.Equal(HealthStatus.Unhealthy, result.Status);
        Assert.Contains("no leader", result.Description, StringComparison.Ordinal);
    }

    [Fact]
    public void A_node_that_stopped_applying_an_unreadable_entry_is_unhealthy_with_the_reason()
    {
        var result = RaftHealthCheck.Evaluate("node1", "follower", 3, 100, 100, 10_000, "entry 101 (term 3) cannot be applied on this node: Checksum mismatch");

        Assert.Equal(HealthStatus.Unhealthy, result.Status);
        Assert.Contains("Checksum mismatch", result.Description, StringComparison.Ordinal);
    }

    [Fact]
    public void Applying_far_behind_the_commit_index_is_degraded_with_the_lag_in_the_reason()
    {
        var result = RaftHealthCheck.Evaluate("node1", "follower", 3, 100, 20_101, 10_000);

        Assert.Equal(HealthStatus.Degraded, result.Status);
        Assert.StartsWith("20001 committed entries not yet applied", result.Description, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(100, 100)]
    [InlineData(100, 10_100)] // exactly at the bound is still healthy
    public void Within_the_lag_bound_a_node_with_a_leader_is_healthy(long applied, long commit)
    {
        var result = RaftHealthCheck.Evaluate("node2", "leader", 4, applied, commit, 10_000);

        Assert.Equal(HealthStatus.Healthy, result.Status);
        Assert.Contains("leader node2, term 4", result.Description, StringComparison.Ordinal);
    }
}
