using System.Diagnostics;
using AspireCache.Node.Raft.DotNextShims;
using DotNext.Net.Cluster.Consensus.Raft;

namespace AspireCache.Tests.InProcess;

/// <summary>
/// Pre-votes and votes by etcd's rule (<see cref="PreVoteMiddleware"/>, <see cref="VoteMiddleware"/>):
/// a follower grants them once it has not heard from a leader for the lower election timeout, not only
/// after its own randomised timeout, and never while it hears from a live leader.
/// </summary>
[Collection(InProcessCollection.Name)]
public sealed class PreVoteTests
{
    private const string RaftPath = "/cluster-consensus/raft";

    [Fact]
    public async Task A_follower_refuses_a_pre_vote_while_it_hears_from_the_leader_and_grants_it_and_then_the_vote_once_the_lower_timeout_passes_without_one()
    {
        // Lower 1 s (heartbeats every 500 ms), randomised timeouts up to 10 s: after the leader stops, a
        // follower asked at ~1.05 s has almost surely (>99%) not reached its own timeout, which is when
        // DotNext alone would grant.
        await using var cluster = await InProcessCluster.StartAsync(new Dictionary<string, string?>
        {
            ["Cluster:LowerElectionTimeoutMs"] = "1000",
            ["Cluster:UpperElectionTimeoutMs"] = "10000",
        });
        var leader = await cluster.WaitForLeaderAsync(TimeSpan.FromSeconds(45));
        var asker = (leader + 1) % 3;
        var asked = (leader + 2) % 3;
        var askerId = cluster.Service<IRaftCluster>(asker).Members.Single(m => !m.IsRemote).Id.ToString();
        using var peer = cluster.PeerClient(asker);

        // The leader is alive: refused (the follower heard from it within the lower timeout).
        var term = (await cluster.StatusAsync(asked)).Term;
        Assert.NotEqual(RaftWire.PreVoteAccepted, await PreVoteAsync(peer, cluster.PeerUrls[asked], askerId, term));

        // The asker stops first (so the asked follower, alone, can never win or start an election), then the leader.
        await cluster.StopNodeAsync(asker);
        await cluster.StopNodeAsync(leader);
        var stopped = Stopwatch.StartNew();
        await Task.Delay(TimeSpan.FromMilliseconds(1050) - stopped.Elapsed);

        Assert.Equal(RaftWire.PreVoteAccepted, await PreVoteAsync(peer, cluster.PeerUrls[asked], askerId, term));
        Assert.Equal(term, (await cluster.StatusAsync(asked)).Term); // a pre-vote changes nothing

        // The real vote for the next term, still long before the follower's own timeout: DotNext alone
        // refuses it then (its stickiness clock), and the candidate's election would split.
        Assert.Equal("true", (await SendAsync(peer, cluster.PeerUrls[asked], RaftWire.RequestVote, askerId, term + 1)).ToLowerInvariant());
        Assert.Equal(term + 1, (await cluster.StatusAsync(asked)).Term);
    }

    private static Task<string> PreVoteAsync(HttpClient peer, Uri node, string sender, long term) =>
        SendAsync(peer, node, RaftWire.PreVote, sender, term);

    private static async Task<string> SendAsync(HttpClient peer, Uri node, string type, string sender, long term)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(node, RaftPath))
        {
            Headers =
            {
                { RaftWire.MessageTypeHeader, type },
                { RaftWire.NodeIdHeader, sender },
                { "X-Request-ID", Guid.NewGuid().ToString("N") },
                { RaftWire.TermHeader, term.ToString(System.Globalization.CultureInfo.InvariantCulture) },
                { RaftWire.RecordIndexHeader, "1000000" },
                { RaftWire.RecordTermHeader, term.ToString(System.Globalization.CultureInfo.InvariantCulture) },
            },
            Content = new ByteArrayContent([]),
        };
        using var response = await peer.SendAsync(request);
        response.EnsureSuccessStatusCode();
        return await response.Content.ReadAsStringAsync();
    }
}
