using System.Reflection;
using System.Runtime.CompilerServices;
using AspireCache.Node.Diagnostics;
using DotNext.Net.Cluster.Consensus.Raft;
using Microsoft.Extensions.Options;

namespace AspireCache.Node.Raft.DotNextShims;

/// <summary>
/// Votes by the same rule as <see cref="PreVoteMiddleware"/>: a follower that has not heard from a
/// leader for the lower election timeout lets DotNext consider the candidate's RequestVote.
/// <para>
/// DotNext 6.12 refuses a vote, before it looks at term or log, while less than the follower's
/// <em>own randomised</em> election timeout has passed since it last heard from a leader (its private
/// <c>lastUpdated</c>). A candidate whose pre-vote this follower had just granted (lower timeout passed)
/// was then refused the real vote whenever the follower's own timeout was longer; it had already moved
/// to the next term and voted for itself, the follower soon did the same, and the vote split: measured,
/// 3 of 5 failovers needed a second round, each about 300 ms more.
/// </para>
/// <para>
/// This only moves DotNext's stickiness clock back (<see cref="LeaderStickiness"/>) when our rule holds;
/// the vote itself (term, the one vote per term, the log check, persistence) is still DotNext's, under
/// its lock. A live leader still vetoes nothing here: a follower that hears from it within the lower
/// timeout is left exactly as DotNext has it.
/// </para>
/// </summary>
internal sealed class VoteMiddleware(
    RequestDelegate next,
    IRaftCluster cluster,
    LeaderSilenceMonitor silence,
    LeaderStickiness stickiness,
    IOptions<ClusterOptions> options,
    ILogger<VoteMiddleware> logger)
{
    private readonly TimeSpan _lowerTimeout = TimeSpan.FromMilliseconds(options.Value.LowerElectionTimeoutMs);
    private readonly bool _enabled = options.Value.FastPreVote;

    public Task InvokeAsync(HttpContext context)
    {
        if (_enabled
            && RaftWire.Is(context.Request, RaftWire.RequestVote)
            && context.Request.Headers[RaftWire.NodeIdHeader] is [{ Length: > 0 } sender]
            && silence.SinceLeaderContact is var quiet && quiet >= _lowerTimeout
            && !RaftWire.LeadsLocally(cluster)
            && RaftWire.IsPeer(cluster, sender))
        {
            stickiness.Expire();
            NodeLog.VoteConsidered(logger, sender, quiet.TotalMilliseconds);
        }

        return next(context);
    }
}

/// <summary>
/// DotNext's leader-stickiness clock (<c>RaftCluster&lt;TMember&gt;.lastUpdated</c>, private in 6.12):
/// the time a follower last heard from a leader, against which DotNext's pre-vote and vote handlers
/// compare the follower's own election timeout. <see cref="Expire"/> sets it to "long ago", as if the
/// timeout had run out. Nothing else reads it (checked in DotNext 6.12's decompiled RaftCluster: the two
/// handlers read it; appends and a leader's lease renewal refresh it), so this changes only whether a
/// vote is considered. Built once; throws when DotNext no longer has the field, so an upgrade cannot
/// silently drop the rule.
/// </summary>
public sealed class LeaderStickiness
{
    private readonly IRaftCluster _cluster;
    private readonly FieldInfo _field;
    private readonly object _longAgo;

    public LeaderStickiness(IRaftCluster cluster)
    {
        _cluster = cluster;
        for (var type = cluster.GetType(); type is not null; type = type.BaseType)
        {
            if (type.GetField("lastUpdated", BindingFlags.Instance | BindingFlags.NonPublic) is { FieldType.FullName: "DotNext.Diagnostics.Timestamp" } field)
            {
                _field = field;
                _longAgo = RuntimeHelpers.GetUninitializedObject(field.FieldType); // ticks 0, not "now" (the public constructor's)
                return;
            }
        }

        throw new NotSupportedException(
            $"DotNext's RaftCluster ({cluster.GetType().Assembly.GetName().Version}) no longer has the Timestamp field lastUpdated; " +
            "VoteMiddleware cannot apply the lower-election-timeout vote rule and must be updated for this DotNext version.");
    }

    /// <summary>Makes DotNext treat the last leader contact as older than any election timeout (until the next one).</summary>
    public void Expire() => _field.SetValue(_cluster, _longAgo);
}
