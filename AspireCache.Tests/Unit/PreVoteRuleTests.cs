using AspireCache.Node.Raft.DotNextShims;

namespace AspireCache.Tests.Unit;

/// <summary>etcd's pre-vote rule as <see cref="PreVoteMiddleware"/> applies it (before the log check).</summary>
public sealed class PreVoteRuleTests
{
    private static readonly TimeSpan Lower = TimeSpan.FromMilliseconds(150);

    [Theory]
    // a follower that has not heard from a leader for the lower timeout grants (whatever its own randomised timeout)
    [InlineData(false, true, 150, 5, 5, 0, 0, true)]
    [InlineData(false, true, 400, 5, 6, 0, 0, true)] // the candidate's next term (5 + 1) is not behind ours (6)
    // it heard from a leader within the lower timeout: left to DotNext (which refuses then too)
    [InlineData(false, true, 149, 5, 5, 0, 0, false)]
    // this node leads: left to DotNext (leader stickiness refuses)
    [InlineData(true, true, 10_000, 5, 5, 0, 0, false)]
    // not a member of the cluster
    [InlineData(false, false, 10_000, 5, 5, 0, 0, false)]
    // the candidate is behind in term: even its next term is below ours
    [InlineData(false, true, 10_000, 4, 6, 0, 0, false)]
    // the candidate's state version is newer than ours
    [InlineData(false, true, 10_000, 5, 5, 1, 0, false)]
    public void A_pre_vote_is_granted_only_after_the_lower_election_timeout_without_a_leader(
        bool localIsLeader, bool senderIsMember, int silenceMs, long candidateTerm, long localTerm, long candidateVersion, long localVersion, bool granted)
    {
        Assert.Equal(granted, PreVoteRule.MayGrant(localIsLeader, senderIsMember, TimeSpan.FromMilliseconds(silenceMs), Lower, candidateTerm, localTerm, candidateVersion, localVersion));
    }

    [Theory]
    // not running itself: grants (the other checks passed)
    [InlineData(false, 0, "b", "a", true)]
    // running: a more up-to-date candidate wins whatever the ids
    [InlineData(true, 1, "b", "a", true)]
    // running with equal logs: the lower id wins, so of two crossing pre-votes exactly one is granted
    [InlineData(true, 0, "a", "b", true)]
    [InlineData(true, 0, "b", "a", false)]
    public void Of_two_nodes_running_at_once_only_one_yields(bool running, int logComparison, string candidate, string self, bool granted)
    {
        Assert.Equal(granted, PreVoteRule.YieldsTo(running, logComparison, candidate, self));
        if (running && logComparison == 0)
        {
            Assert.NotEqual(granted, PreVoteRule.YieldsTo(running, logComparison, self, candidate));
        }
    }
}

/// <summary>A follower that granted a pre-vote does not run against that candidate for the upper election timeout.</summary>
public sealed class PreVoteEndorsementTests
{
    [Fact]
    public void After_granting_a_pre_vote_a_node_holds_off_its_own_for_the_upper_election_timeout()
    {
        var clock = new SteppedClock();
        var endorsement = new PreVoteEndorsement(clock, Microsoft.Extensions.Options.Options.Create(new AspireCache.Node.Raft.ClusterOptions { UpperElectionTimeoutMs = 300 }));

        Assert.False(endorsement.HoldsOff); // nothing endorsed yet
        endorsement.Endorsed();
        Assert.True(endorsement.HoldsOff);
        clock.Advance(TimeSpan.FromMilliseconds(299));
        Assert.True(endorsement.HoldsOff);
        clock.Advance(TimeSpan.FromMilliseconds(2));
        Assert.False(endorsement.HoldsOff);
    }

    [Fact]
    public void After_sending_its_own_pre_vote_a_node_counts_as_running_for_the_upper_election_timeout()
    {
        var clock = new SteppedClock();
        var endorsement = new PreVoteEndorsement(clock, Microsoft.Extensions.Options.Options.Create(new AspireCache.Node.Raft.ClusterOptions { UpperElectionTimeoutMs = 300 }));

        Assert.False(endorsement.IsRunning);
        endorsement.Running();
        Assert.True(endorsement.IsRunning);
        Assert.False(endorsement.HoldsOff); // running is not endorsing
        clock.Advance(TimeSpan.FromMilliseconds(301));
        Assert.False(endorsement.IsRunning);
    }
}
