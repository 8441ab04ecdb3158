using AspireCache.Node.Diagnostics;
using AspireCache.Node.StateMachine;

namespace AspireCache.Node.Raft;

/// <summary>
/// After the leader publishes a snapshot, one empty entry, so that DotNext's WAL compacts now rather than
/// at the next client write. Its flusher starts the compaction only on its next round, which runs when
/// something is appended; a catch-up that started while one was pending would hold it, and every flush,
/// commit and round to the other followers behind it, for the whole transfer (see <see cref="SnapshotHold"/>).
/// One entry per snapshot (every <see cref="ClusterOptions.SnapshotInterval"/> entries at most).
/// </summary>
internal sealed class CompactionNudge(SnapshotHold snapshots, ClusterView cluster, WriteCoordinator writes, Microsoft.Extensions.Options.IOptions<ClusterOptions> options, IHostApplicationLifetime lifetime, ILogger<CompactionNudge> logger) : IHostedService
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(5);

    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (options.Value.CompactAfterSnapshot)
        {
            snapshots.Published += OnPublished;
        }

        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        snapshots.Published -= OnPublished;
        return Task.CompletedTask;
    }

    private void OnPublished()
    {
        if (cluster.IsLeader && !lifetime.ApplicationStopping.IsCancellationRequested)
        {
            _ = NudgeAsync();
        }
    }

    private async Task NudgeAsync()
    {
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(lifetime.ApplicationStopping);
            timeout.CancelAfter(Timeout);
            await writes.ProposeBarrierAsync(timeout.Token).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            NodeLog.CompactionNudgeFailed(logger, ex); // the next write compacts instead
        }
    }
}
