using System.Diagnostics;
using System.Reflection;
using AspireCache.Node.Diagnostics;
using AspireCache.Node.Raft;
using AspireCache.Node.StateMachine;
using DotNext.Net.Cluster;
using DotNext.Net.Cluster.Consensus.Raft;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;

namespace AspireCache.Tests.Unit;

/// <summary>
/// A stopped DotNext 6.12 cluster ("zombie" state) throws from <see cref="IRaftCluster.LeadershipToken"/> and
/// still raises <see cref="ICluster.LeaderChanged"/> while it stops. Our leader-change handler read the role
/// there, so a node's shutdown threw (`UnreachableException: A task was canceled`, seen once in CI).
/// </summary>
public sealed class StoppedClusterTests : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), $"aspirecache-stopped-{Guid.NewGuid():N}");

    [Fact]
    public async Task A_stopped_cluster_leads_nothing_and_announcing_its_leader_change_does_not_throw()
    {
        using var services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        var telemetry = new NodeTelemetry(services.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>());
        await using var machine = new CacheStateMachine(new DirectoryInfo(_directory), 1_000, NullLogger<CacheStateMachine>.Instance);
        var cluster = DispatchProxy.Create<IRaftCluster, StoppedCluster>();
        using var view = new ClusterView(cluster, machine, Microsoft.Extensions.Options.Options.Create(new ClusterOptions { NodeId = "node1" }), telemetry, NullLogger<ClusterView>.Instance);
        var changed = view.NextChange;

        ((StoppedCluster)(object)cluster).RaiseLeaderChanged();

        Assert.False(view.IsLeader);
        Assert.Equal("follower", view.Role);
        Assert.True(changed.IsCompleted, "the change was not announced");
    }

    public void Dispose()
    {
        if (Directory.Exists(_directory))
        {
            Directory.Delete(_directory, recursive: true);
        }
    }

    /// <summary>What DotNext 6.12's stopped cluster does: no leader, and <c>LeadershipToken</c> throws.</summary>
    public class StoppedCluster : DispatchProxy
    {
        private readonly ConsensusOnlyState _log = new();
        private Action<ICluster, IClusterMember?>? _leaderChanged;

        public void RaiseLeaderChanged() => _leaderChanged!((ICluster)(object)this, null);

        protected override object? Invoke(MethodInfo? targetMethod, object?[]? args)
        {
            switch (targetMethod!.Name)
            {
                case "get_LeadershipToken":
                    throw new UnreachableException("A task was canceled.", new TaskCanceledException());
                case "get_Leader":
                    return null;
                case "get_AuditTrail":
                    return _log; // the term
                case "add_LeaderChanged":
                    _leaderChanged += (Action<ICluster, IClusterMember?>)args![0]!;
                    return null;
                case "remove_LeaderChanged":
                    _leaderChanged -= (Action<ICluster, IClusterMember?>)args![0]!;
                    return null;
                default:
                    var type = targetMethod.ReturnType;
                    return type.IsValueType && type != typeof(void) ? Activator.CreateInstance(type) : null;
            }
        }
    }
}
