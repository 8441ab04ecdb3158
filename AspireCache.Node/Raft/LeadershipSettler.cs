using AspireCache.Node.Diagnostics;
using DotNext.Net.Cluster.Consensus.Raft;
using Microsoft.Extensions.Options;

namespace AspireCache.Node.Raft;

/// <summary>
/// Gets a newly elected leader to "ready" (its term's first entry committed) in back-to-back
/// replication rounds instead of one round per heartbeat period.
/// <para>
/// DotNext's new leader appends a no-op entry and counts as leader (<see cref="IRaftCluster.LeadershipToken"/>,
/// so our reads; writes are proposed from the election on, see <see cref="ClusterView.LeadsLocally"/>) only
/// once that entry commits. Its first round always fails on the followers
/// (it assumes they hold the no-op already, Raft's initial nextIndex), and after a failed round DotNext's
/// leader loop waits for the heartbeat period or a forced round before trying again. Right after an
/// election no client write forces a round yet (clients are still finding the leader), so every failover
/// paid at least one heartbeat period (half the lower election timeout) for nothing; measured under load it
/// was ~300 ms between "elected" and "ready". This forces rounds until the leader is ready, the term moves
/// on, or the upper election timeout passes (a follower that is down or slow then simply costs what it
/// did before).
/// </para>
/// </summary>
public sealed class LeadershipSettler : IHostedService
{
    private readonly IRaftCluster _cluster;
    private readonly ClusterOptions _options;
    private readonly NodeTelemetry _telemetry;
    private readonly ILogger<LeadershipSettler> _logger;
    private readonly ClusterView _view;
    private readonly CancellationTokenSource _stopping = new();

    public LeadershipSettler(IRaftCluster cluster, ClusterView view, IOptions<ClusterOptions> options, NodeTelemetry telemetry, ILogger<LeadershipSettler> logger)
    {
        _cluster = cluster;
        _view = view;
        _options = options.Value;
        _telemetry = telemetry;
        _logger = logger;
    }

    public Task StartAsync(CancellationToken cancellationToken)
    {
        _cluster.LeaderChanged += OnLeaderChanged;
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        _cluster.LeaderChanged -= OnLeaderChanged;
        _stopping.Cancel();
        return Task.CompletedTask;
    }

    private void OnLeaderChanged(DotNext.Net.Cluster.ICluster sender, DotNext.Net.Cluster.IClusterMember? leader)
    {
        // Raised inside DotNext's state transition (under its lock): never block here.
        if (leader is { IsRemote: false })
        {
            var term = _cluster.Term;
            _ = Task.Run(() => SettleAsync(term));
        }
    }

    private async Task SettleAsync(long term)
    {
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        var deadline = _options.LeaderReadyBound;
        var rounds = 0;
        try
        {
            while (!_stopping.IsCancellationRequested && _cluster.Term == term && !_view.IsLeader)
            {
                var left = deadline - System.Diagnostics.Stopwatch.GetElapsedTime(started);
                if (left <= TimeSpan.Zero)
                {
                    return;
                }

                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token);
                timeout.CancelAfter(left);
                rounds++;
                await _cluster.ForceReplicationAsync(timeout.Token);
            }

            if (_cluster.Term == term && _view.IsLeader)
            {
                var elapsed = System.Diagnostics.Stopwatch.GetElapsedTime(started);
                _view.NotifyRoleChanged(); // the router follows roles: it can send this leader writes now
                _telemetry.LeadershipReady(elapsed.TotalMilliseconds);
                NodeLog.LeadershipReady(_logger, term, elapsed.TotalMilliseconds, rounds);
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or NotLeaderException or InvalidOperationException or QuorumUnreachableException or ObjectDisposedException)
        {
            // Deposed, stopping, or no quorum within the bound: the heartbeat loop carries on as before.
        }
    }
}
