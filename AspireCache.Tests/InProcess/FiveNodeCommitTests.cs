using System.Net;
using AspireCache.Node.Faults;

namespace AspireCache.Tests.InProcess;

/// <summary>
/// Five real nodes: a write is acknowledged only once three hold it, also in the round where a follower
/// answers a snapshot. DotNext 6.12's leader commits the middle of the answers it has, so the answers
/// leader C, follower C and a snapshot at S &lt; C committed C on two nodes; when those two failed, the other
/// three elected a leader without it (<c>SnapshotAnswerMiddleware</c>, <c>CommitQuorumTests</c>).
/// </summary>
[Collection(InProcessCollection.Name)]
public sealed class FiveNodeCommitTests
{
    [Fact]
    public async Task A_write_only_two_of_five_hold_is_not_acknowledged_when_a_snapshot_answer_is_in_its_round_and_nothing_acknowledged_is_lost_when_those_two_fail()
    {
        var settings = new Dictionary<string, string?>(ResentSnapshotTests.SnapshotSettings)
        {
            ["Cluster:WriteTimeout"] = "00:00:02.500",

            // While two followers stall, each round waits for their Raft timeout (1 s) and the others hear the
            // leader that seldom: elections must wait longer than the few seconds this takes.
            ["Cluster:LowerElectionTimeoutMs"] = "5000",
            ["Cluster:UpperElectionTimeoutMs"] = "8000",
        };
        await using var cluster = await InProcessCluster.StartAsync(settings, nodes: 5);
        var leader = await cluster.WaitForLeaderAsync(TimeSpan.FromSeconds(30));
        var followers = Enumerable.Range(0, 5).Where(i => i != leader).ToArray();
        var (holder, behind, stalled) = (followers[0], followers[1], followers[2..]);
        var faults = cluster.Service<PartitionState>(leader);
        using var client = cluster.Client(leader);

        // 1. One follower misses entries that the leader then compacts: the next message it gets is a snapshot.
        await ResentSnapshotTests.LeaveBehindACompactionAsync(cluster, leader, behind, "five");

        // 2. Two followers stop answering, and the follower behind is reachable again for exactly one message: the
        //    snapshot, sent in the round the write starts (heartbeats are 2.5 s apart here). So only the leader and
        //    one follower can hold the write. (A round without three answers of C waits for the stalled followers'
        //    1 s timeout; the round after the snapshot has only two live answers, and the leader steps down.)
        var snapshotAnswer = faults.CutAfterAnswerAsync(cluster.NodeIds[behind], "InstallSnapshot");
        faults.Stall(stalled.Select(i => cluster.NodeIds[i]));
        faults.Block([]);
        var write = client.PutAsync("/cache/five/w", new StringContent("acknowledged"));
        var answer = await snapshotAnswer.WaitAsync(TimeSpan.FromSeconds(20));
        using var response = await write;

        // 3. The leader and the follower holding the write fail; the other three elect a leader and read.
        await cluster.StopNodeAsync(leader);
        await cluster.StopNodeAsync(holder);
        var newLeader = await cluster.WaitForLeaderAsync(TimeSpan.FromSeconds(40));
        using var reader = cluster.Client(newLeader);
        using var read = await reader.GetAsync("/cache/five/w");
        using var earlier = await reader.GetAsync("/cache/five/44");

        Assert.Equal(HttpStatusCode.OK, earlier.StatusCode); // acknowledged on four of five: kept
        if (response.IsSuccessStatusCode)
        {
            // Acknowledged, so it must have survived: with DotNext's own snapshot answer it was lost here (404).
            Assert.True(read.StatusCode == HttpStatusCode.OK, $"an acknowledged write was lost: the three nodes left answer {(int)read.StatusCode}");
        }

        Assert.False(response.IsSuccessStatusCode, $"a write only two of five held was acknowledged ({(int)response.StatusCode})");
        Assert.Equal("Replicated", answer);
    }
}
