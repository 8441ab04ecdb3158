using AspireCache.Node.Raft;
using AspireCache.Node.Diagnostics;
using AspireCache.Node.StateMachine;

namespace AspireCache.Node.Eviction;

/// <summary>
/// A leader duty that removes keys on its own initiative (TTL expiry, LRU eviction): every
/// <see cref="Interval"/>, if this node leads, it chooses keys (each at the version it saw) and
/// proposes one <see cref="RemoveCommand"/> — so every replica removes exactly the same keys, and a
/// key written again meanwhile survives. Replicas never decide removals on their own.
/// </summary>
internal abstract class LeaderRemovalService(
    ClusterView cluster,
    WriteCoordinator writes,
    NodeTelemetry telemetry,
    TimeProvider clock,
    ILogger logger) : BackgroundService
{
    /// <summary>Most keys removed by one log entry.</summary>
    protected const int MaxKeysPerEntry = 1000;

    protected abstract TimeSpan Interval { get; }

    protected abstract RemovalReason Reason { get; }

    protected TimeProvider Clock => clock;

    /// <summary>The keys to remove now (with the versions seen), or none.</summary>
    protected abstract List<KeyValuePair<string, long>> Choose();

    protected virtual void OnRemoved(List<KeyValuePair<string, long>> keys)
    {
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(Interval, clock);
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            if (!cluster.IsLeader)
            {
                continue;
            }

            var keys = Choose();
            if (keys.Count == 0)
            {
                continue;
            }

            try
            {
                await writes.ProposeAsync(new RemoveCommand(keys, Reason), stoppingToken);
                telemetry.Removed(keys.Count, Reason);
                OnRemoved(keys);
            }
            catch (ClusterUnavailableException ex)
            {
                // Lost leadership or quorum: the next leader decides again.
                NodeLog.RemovalDeferred(logger, keys.Count, ex.Message);
            }
        }
    }
}
