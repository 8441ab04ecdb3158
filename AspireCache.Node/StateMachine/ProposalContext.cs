using System.Buffers;
using System.Diagnostics;

namespace AspireCache.Node.StateMachine;

/// <summary>
/// Carries the proposer's waiting slot through the log: DotNext hands the proposing node's
/// <c>LogEntry.Context</c> back to apply, which fills in one result per command.
/// <para>
/// DotNext keeps contexts by log index and does not drop them when a new leader overwrites an
/// uncommitted entry: a deposed leader then applies the new leader's entry at that index with the
/// old proposal's context. Apply therefore hands results only to the proposal whose own bytes the
/// entry carries (<see cref="Matches"/>); anyone else learns nothing and answers "outcome unknown".
/// Found by the long Jepsen-style run: a write was answered with the revision of another client's
/// write that had replaced it at the same index.
/// </para>
/// </summary>
public sealed class ProposalContext(int commandCount, ActivityContext parent = default, ReadOnlyMemory<byte> payload = default)
{
    public CommandResult[] Results { get; } = new CommandResult[commandCount];

    /// <summary>The exact entry payload proposed (it carries the leader's timestamp and every command).</summary>
    public ReadOnlyMemory<byte> Payload { get; } = payload;

    /// <summary>Whether an applied entry is this proposal's own entry.</summary>
    public bool Matches(in ReadOnlySequence<byte> entry)
    {
        if (entry.Length != Payload.Length)
        {
            return false;
        }

        if (entry.IsSingleSegment)
        {
            return entry.FirstSpan.SequenceEqual(Payload.Span);
        }

        var offset = 0;
        foreach (var segment in entry)
        {
            if (!segment.Span.SequenceEqual(Payload.Span.Slice(offset, segment.Length)))
            {
                return false;
            }

            offset += segment.Length;
        }

        return true;
    }

    /// <summary>The proposer's <c>raft.replicate</c> span, so <c>raft.apply</c> joins the write's trace.</summary>
    public ActivityContext Parent { get; } = parent;

    public bool Applied { get; set; }
}
