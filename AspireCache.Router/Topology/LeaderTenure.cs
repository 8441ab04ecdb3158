using System.Collections.Concurrent;

namespace AspireCache.Router.Topology;

/// <summary>
/// Per node, a token that lives while the router's topology names that node as the write leader, and
/// is cancelled once it names another one (a newer term's election). Writes in flight to the old leader
/// are then abandoned and go on to the new one with their <c>Idempotency-Key</c>, instead of waiting for
/// as long as the old leader takes to answer: a dead process's connections close within a fraction of a
/// second, but a paused process or a frozen host holds them until a timeout (seconds). No tenure ends
/// while no leader is named (an election under way, the old leader may still win). One entry per node
/// that led (bounded by <c>Router:Nodes</c>). Fed by <see cref="TopologyMonitor"/>, under its publish lock.
/// </summary>
internal sealed class LeaderTenure
{
    private static readonly CancellationToken Ended = new(canceled: true);
    private readonly ConcurrentDictionary<string, CancellationTokenSource> _tenures = new(StringComparer.OrdinalIgnoreCase);
    private string? _leader;

    /// <summary>
    /// The token of <paramref name="node"/>'s tenure as write leader: cancelled when another node is named,
    /// and already cancelled when <paramref name="topology"/>'s current one (read after it) names another node.
    /// </summary>
    public CancellationToken Of(string node, ITopologySource topology)
    {
        var token = _tenures.GetOrAdd(node, static _ => new CancellationTokenSource()).Token;

        // Read after the token: a topology naming another leader published before this read has ended
        // the tenure this token belongs to, or is seen here; one published after it cancels the token.
        return topology.Current.WriteLeaderId is { } leader && !string.Equals(leader, node, StringComparison.OrdinalIgnoreCase) ? Ended : token;
    }

    /// <summary>The topology just published names <paramref name="writeLeader"/> (null: none) as the write leader.</summary>
    public void Published(string? writeLeader)
    {
        if (writeLeader is null)
        {
            return;
        }

        var previous = _leader;
        _leader = writeLeader;
        if (previous is not null && !string.Equals(previous, writeLeader, StringComparison.OrdinalIgnoreCase)
            && _tenures.TryRemove(previous, out var ended))
        {
            _ = ended.CancelAsync(); // the abandoned requests' callbacks run on the pool, not under the caller's lock
        }
    }
}
