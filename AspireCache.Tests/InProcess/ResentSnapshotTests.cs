using System.Globalization;
using AspireCache.Node.Faults;
using AspireCache.Tests.Watch;
using DotNext.Net.Cluster.Consensus.Raft;

namespace AspireCache.Tests.InProcess;

/// <summary>
/// How a follower answers InstallSnapshot: as contact without the leader's term (<c>Replicated</c>), so the answer
/// never counts towards a commit (<c>SnapshotAnswerMiddleware</c>, <c>CommitQuorumTests</c>); and a snapshot sent again
/// after the follower installed it is acknowledged the same way, so the leader moves on to entries.
/// </summary>
[Collection(InProcessCollection.Name)]
public sealed class ResentSnapshotTests
{
    /// <summary>Fault injection on, and a snapshot every 20 entries: <see cref="LeaveBehindACompactionAsync"/> needs 45 writes.</summary>
    internal static readonly Dictionary<string, string?> SnapshotSettings = new(PartitionTests.FaultSettings) { ["Cluster:SnapshotInterval"] = "20" };

    /// <summary>
    /// Cuts <paramref name="leader"/>'s link to <paramref name="follower"/> (it stays cut) and writes 45 keys under
    /// <paramref name="prefix"/>: entries the leader then compacts, so the next message the follower gets is a snapshot.
    /// </summary>
    internal static async Task LeaveBehindACompactionAsync(InProcessCluster cluster, int leader, int follower, string prefix)
    {
        cluster.Service<PartitionState>(leader).Block([cluster.NodeIds[follower]]);
        using var client = cluster.Client(leader);
        for (var i = 0; i < 45; i++)
        {
            // A 503 (the write timed out: a slow disk on a busy box) is tried again, a few times; the same value, so once or twice is alike.
            for (var attempt = 1; ; attempt++)
            {
                using var response = await client.PutAsync($"/cache/{prefix}/{i}", new StringContent("x"));
                if (response.StatusCode != System.Net.HttpStatusCode.ServiceUnavailable || attempt == 5)
                {
                    response.EnsureSuccessStatusCode();
                    break;
                }
            }
        }
    }

    [Fact]
    public async Task A_snapshot_is_answered_as_contact_so_it_never_counts_towards_a_commit_and_the_follower_still_catches_up()
    {
        await using var cluster = await InProcessCluster.StartAsync(SnapshotSettings);
        var leader = await cluster.WaitForLeaderAsync(TimeSpan.FromSeconds(10));
        var follower = Enumerable.Range(0, 3).First(i => i != leader);
        var faults = cluster.Service<PartitionState>(leader);
        using var client = cluster.Client(leader);

        // The follower misses entries the leader compacts; the leader's own attempt to send the snapshot is captured and refused.
        await LeaveBehindACompactionAsync(cluster, leader, follower, "snapshot-answer");
        var sent = await faults.CaptureNextAsync(InProcessCluster.Ids[follower], "InstallSnapshot").WaitAsync(TimeSpan.FromSeconds(20));
        var snapshotIndex = long.Parse(sent.Headers.Single(h => h.Key == "X-Raft-Snapshot-Index").Value[0], CultureInfo.InvariantCulture);

        // Delivered for the first time, from the leader of this term: DotNext installs it and answers "ReplicatedWithLeaderTerm".
        using var raw = cluster.PeerClient(leader);
        using var response = await raw.SendAsync(sent.ToRequest());
        var answer = await response.Content.ReadAsStringAsync();
        var log = cluster.Service<IPersistentState>(follower);

        Assert.True(response.IsSuccessStatusCode, $"{(int)response.StatusCode}");
        Assert.Equal("Replicated", answer);
        Assert.True(log.LastCommittedEntryIndex >= snapshotIndex, $"the snapshot was not installed ({log.LastCommittedEntryIndex} < {snapshotIndex})");

        // The leader still moves the follower past it: once the link heals, a new write reaches the follower.
        faults.Heal();
        (await client.PutAsync("/cache/snapshot-answer/after", new StringContent("y"))).EnsureSuccessStatusCode();
        var leaderLog = cluster.Service<IPersistentState>(leader);
        var target = leaderLog.LastCommittedEntryIndex;
        await Poll.UntilAsync(() => log.LastCommittedEntryIndex >= target, TimeSpan.FromSeconds(20), () => $"the follower did not catch up after the snapshot ({log.LastCommittedEntryIndex} < {target})");
    }

    [Fact]
    public async Task A_snapshot_sent_again_after_it_was_installed_is_answered_as_replicated_not_refused()
    {
        await using var cluster = await InProcessCluster.StartAsync(SnapshotSettings);
        var leader = await cluster.WaitForLeaderAsync(TimeSpan.FromSeconds(10));
        var follower = Enumerable.Range(0, 3).First(i => i != leader);
        var faults = cluster.Service<PartitionState>(leader);

        // The follower misses enough entries that the leader has compacted them: it must be sent the snapshot.
        await LeaveBehindACompactionAsync(cluster, leader, follower, "resent");

        var snapshot = faults.CaptureNextAsync(InProcessCluster.Ids[follower], "InstallSnapshot");
        faults.Heal();
        var sent = await snapshot.WaitAsync(TimeSpan.FromSeconds(20));

        // The follower installs it (the leader's own attempt) and catches up.
        var log = cluster.Service<IPersistentState>(follower);
        var deadline = DateTime.UtcNow.AddSeconds(20);
        var snapshotIndex = long.Parse(sent.Headers.Single(h => h.Key == "X-Raft-Snapshot-Index").Value[0], CultureInfo.InvariantCulture);
        while (log.LastCommittedEntryIndex < snapshotIndex && DateTime.UtcNow < deadline)
        {
            await Task.Delay(20);
        }

        Assert.True(log.LastCommittedEntryIndex >= snapshotIndex, $"the follower never got to the snapshot ({log.LastCommittedEntryIndex} < {snapshotIndex})");

        // The same snapshot arrives again (the leader had timed out on the first answer).
        using var raw = cluster.PeerClient(leader); // signed afresh as the leader: the cluster secret is on
        using var response = await raw.SendAsync(sent.ToRequest());
        var answer = await response.Content.ReadAsStringAsync();

        Assert.True(response.IsSuccessStatusCode, $"{(int)response.StatusCode}");
        Assert.Equal("Replicated", answer); // DotNext's own answer was "Rejected": its leader then re-sent the snapshot until a newer one existed
    }
    /// <summary>
    /// The follower's first install of the snapshot replaces its state but fails to publish the file (the disk refuses
    /// the rename): the leader sends it again, and the follower installs it again rather than take it for applied.
    /// Taken for applied (before), DotNext's commit index stayed at the older snapshot, the follower refused every entry
    /// after it, and the leader sent the same snapshot round after round until it took a newer one: here, never.
    /// </summary>
    [Fact]
    public async Task A_snapshot_whose_install_failed_to_publish_is_installed_again_when_it_is_sent_again()
    {
        await using var cluster = await InProcessCluster.StartAsync(SnapshotSettings);
        var leader = await cluster.WaitForLeaderAsync(TimeSpan.FromSeconds(10));
        var follower = Enumerable.Range(0, 3).First(i => i != leader);
        await LeaveBehindACompactionAsync(cluster, leader, follower, "unpublished");

        var stateMachine = cluster.Service<AspireCache.Node.StateMachine.CacheStateMachine>(follower);
        var installs = new System.Collections.Concurrent.ConcurrentQueue<long>();
        stateMachine.BeforeInstallPlace = index =>
        {
            installs.Enqueue(index);
            if (installs.Count == 1)
            {
                throw new IOException("the disk refused the snapshot's rename (injected)");
            }
        };

        cluster.Service<PartitionState>(leader).Heal();
        using var client = cluster.Client(leader);
        (await client.PutAsync("/cache/unpublished/after", new StringContent("y"))).EnsureSuccessStatusCode();
        var target = cluster.Service<IPersistentState>(leader).LastCommittedEntryIndex;
        var log = cluster.Service<IPersistentState>(follower);

        await Poll.UntilAsync(
            () => log.LastCommittedEntryIndex >= target,
            TimeSpan.FromSeconds(20),
            () => $"the follower did not get past the snapshot after a failed publish ({log.LastCommittedEntryIndex} < {target}; installs tried: {string.Join(", ", installs)})");
        var tried = installs.ToArray();
        Assert.True(tried.Length >= 2 && tried[1] == tried[0], $"the snapshot whose publish failed was not the one installed next ({string.Join(", ", tried)})");
        Assert.True(stateMachine.LastSnapshotIndex >= tried[0], $"the installed snapshot {tried[0]} was not published ({stateMachine.LastSnapshotIndex})");
        using var followerClient = cluster.Client(follower);
        Assert.Equal("y", await followerClient.GetStringAsync("/cache/unpublished/after?consistent=false"));
    }
}
