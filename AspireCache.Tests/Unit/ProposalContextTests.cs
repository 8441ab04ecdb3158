using System.Buffers;
using AspireCache.Node.StateMachine;

namespace AspireCache.Tests.Unit;

/// <summary>
/// DotNext hands a proposal's context to whatever entry is applied at its index, even one a new
/// leader wrote over it: only the proposal's own bytes may answer its callers.
/// </summary>
public sealed class ProposalContextTests
{
    private static readonly byte[] Proposed = [1, 2, 3, 4, 5, 6, 7, 8];

    [Fact]
    public void Its_own_entry_matches_in_one_segment_or_several()
    {
        var context = new ProposalContext(1, payload: Proposed);

        Assert.True(context.Matches(new ReadOnlySequence<byte>(Proposed)));
        Assert.True(context.Matches(Segments([1, 2, 3], [4, 5], [6, 7, 8])));
    }

    [Fact]
    public void Another_leaders_entry_at_the_same_index_does_not_match()
    {
        var context = new ProposalContext(1, payload: Proposed);

        Assert.False(context.Matches(new ReadOnlySequence<byte>([1, 2, 3, 4, 5, 6, 7, 9]))); // same length, other bytes
        Assert.False(context.Matches(Segments([1, 2, 3], [4, 5], [6, 7, 0])));
        Assert.False(context.Matches(new ReadOnlySequence<byte>([1, 2, 3, 4, 5, 6, 7]))); // other length
    }

    private static ReadOnlySequence<byte> Segments(params byte[][] parts)
    {
        var first = new Segment(parts[0], 0);
        var last = first;
        foreach (var part in parts.Skip(1))
        {
            last = last.Append(part);
        }

        return new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length);
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> memory, long runningIndex)
        {
            Memory = memory;
            RunningIndex = runningIndex;
        }

        public Segment Append(ReadOnlyMemory<byte> memory)
        {
            var next = new Segment(memory, RunningIndex + Memory.Length);
            Next = next;
            return next;
        }
    }
}
