using System.Reflection;
using AspireCache.Node.Raft.DotNextShims;
using DotNext.Net.Cluster.Consensus.Raft;

namespace AspireCache.Tests.Unit;

/// <summary>Which cluster sizes DotNext 6.12's commit rule (the middle of a majority's answers) keeps safe.</summary>
public sealed class CommitQuorumTests
{
    private delegate long CommitIndexOf(Span<long> answers);

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

    /// <summary>
    /// The model above is DotNext's own code: its leader's <c>GetCommitIndex</c> (private; the shipped 6.12 assembly)
    /// commits C from a bare majority of answers as soon as <see cref="CommitQuorum.HoldersOfCommit"/> of them hold C.
    /// When DotNext takes the smallest answer instead (Raft's rule), this fails: then the warning and
    /// <c>docs/failure-behaviour.md</c>'s "Known, not fixed" can go.
    /// </summary>
    [Fact]
    public void DotNext_commits_what_the_model_says_from_a_majoritys_answers()
    {
        var commitIndexOf = DotNextCommitIndex();
        Assert.Equal(10, commitIndexOf([7, 10, 10])); // five members: C from two holders of it
        Assert.Equal(7, commitIndexOf([7, 10]));      // three members: the smaller

        for (var members = 1; members <= 9; members++)
        {
            var majority = CommitQuorum.Majority(members);
            var fewestHolders = Enumerable.Range(1, majority).First(holders =>
            {
                var answers = Enumerable.Repeat(7L, majority - holders).Concat(Enumerable.Repeat(10L, holders)).ToArray();
                return commitIndexOf(answers) == 10;
            });
            Assert.Equal(CommitQuorum.HoldersOfCommit(members), fewestHolders);
        }
    }

    private static CommitIndexOf DotNextCommitIndex()
    {
        var leaderState = typeof(IRaftCluster).Assembly.GetType("DotNext.Net.Cluster.Consensus.Raft.LeaderState`1")
            ?? throw new NotSupportedException("DotNext no longer has LeaderState`1: re-examine CommitQuorum against its commit rule.");
        var method = leaderState.MakeGenericType(typeof(IRaftClusterMember))
            .GetMethod("GetCommitIndex", BindingFlags.NonPublic | BindingFlags.Static, [typeof(Span<long>)])
            ?? throw new NotSupportedException("DotNext's LeaderState no longer has GetCommitIndex(Span<long>): re-examine CommitQuorum against its commit rule.");
        return method.CreateDelegate<CommitIndexOf>();
    }
}
