using System.Diagnostics;
using AspireCache.Node.Diagnostics;
using AspireCache.Node.StateMachine;
using DotNext.Net.Cluster.Consensus.Raft;
using Microsoft.Extensions.Options;

namespace AspireCache.Node.Raft;

/// <summary>
/// The write path, start to finish: a validated command becomes one Raft log entry on the
/// leader, is replicated to a majority (each fsyncs), committed, applied in log order, and only
/// then is the caller answered with the result its own command produced. A follower refuses
/// (the caller is told who leads); nothing is ever applied except through the log.
/// </summary>
public sealed class WriteCoordinator(
    ClusterView cluster,
    TimeProvider clock,
    NodeTelemetry telemetry,
    IOptions<ClusterOptions> options)
{
    private readonly ClusterOptions _options = options.Value;

    public async Task<CommandResult> ProposeAsync(CacheCommand command, CancellationToken token)
    {
        using var activity = NodeTelemetry.Source.StartActivity("cache.write");
        var leader = cluster.Leader;
        if (!leader.IsLocal || !cluster.IsLeader)
        {
            throw leader.LeaderId is null
                ? new ClusterUnavailableException(UnavailableReason.NoLeader, "No leader is known; an election is in progress or the quorum is lost.")
                : new ClusterUnavailableException(UnavailableReason.NotLeader, $"This node is not the leader; {leader.LeaderId} is.", leader);
        }

        // The leader's clock stamps the entry: apply never consults a replica's own clock.
        var batch = new CommandBatch(clock.GetUtcNow().ToUnixTimeMilliseconds(), [command]);
        var payload = CommandCodec.Encode(batch);
        var context = new ProposalContext(batch.Commands.Count);

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(token);
        timeout.CancelAfter(_options.WriteTimeout);
        var started = Stopwatch.GetTimestamp();
        try
        {
            using var replicate = NodeTelemetry.Source.StartActivity("raft.replicate");
            replicate?.SetTag("raft.term", cluster.Term);
            replicate?.SetTag("raft.batch_size", batch.Commands.Count);
            replicate?.SetTag("raft.payload_bytes", payload.Length);
            await cluster.Raft.ReplicateAsync(new ReadOnlyMemory<byte>(payload), context, timeout.Token);
        }
        catch (InvalidOperationException) when (!cluster.IsLeader)
        {
            // NotLeaderException: leadership was lost before the entry was appended.
            throw new ClusterUnavailableException(UnavailableReason.NotLeader, "Leadership changed before the write was accepted; nothing was written.", cluster.Leader);
        }
        catch (OperationCanceledException) when (!token.IsCancellationRequested)
        {
            throw new ClusterUnavailableException(UnavailableReason.Timeout, $"The write was not committed within {_options.WriteTimeout.TotalSeconds:0.#} s; it may or may not be applied.");
        }

        if (!context.Applied)
        {
            throw new ClusterUnavailableException(UnavailableReason.Timeout, "Leadership changed while the write was replicating; it may or may not be applied.");
        }

        var elapsed = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
        telemetry.Committed(elapsed);
        var result = context.Results[0];
        activity?.SetTag("cache.revision", result.Revision);
        return result;
    }
}
