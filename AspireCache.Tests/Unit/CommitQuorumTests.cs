using AspireCache.Node.Raft.DotNextShims;

namespace AspireCache.Tests.Unit;

/// <summary>Which cluster sizes DotNext 6.12's commit rule (the middle of a majority's answers) keeps safe.</summary>
public sealed class CommitQuorumTests
{
    [Theory]
    [InlineData(1, 1, true)]
    [InlineData(2, 2, true)]
    [InlineData(3, 2, true)]  // answers [X, C]: the smaller, held by both
    [InlineData(4, 2, true)]  // answers [X, C, C]: C, held by 2; any 3 of 4 include one of them
    [InlineData(5, 2, false)] // answers [X, C, C]: C, held by 2; the other 3 are a majority without it
    [InlineData(6, 3, true)]
    [InlineData(7, 3, false)]
    [InlineData(8, 3, false)]
    [InlineData(9, 3, false)]
    public void The_committed_entry_is_on_every_majority_only_for_some_sizes(int members, int holders, bool safe)
    {
        Assert.Equal(holders, CommitQuorum.HoldersOfCommit(members));
        Assert.Equal(safe, CommitQuorum.IsSafe(members));
    }
}
