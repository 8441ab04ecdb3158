using System.Globalization;
using AspireCache.Node.Faults;
using DotNext.Net.Cluster.Consensus.Raft;

namespace AspireCache.Tests.InProcess;

/// <summary>
/// A late AppendEntries — one the leader gave up on and replaced by a longer one, or one that sat in
/// the socket of a paused follower — must not cut entries the follower already acknowledged.
/// </summary>
[Collection(InProcessCollection.Name)]
public sealed class StaleAppendTests
{
    [Fact]
    public async Task A_late_AppendEntries_does_not_truncate_entries_the_follower_already_acknowledged()
    {
        await using var cluster = await InProcessCluster.StartAsync(PartitionTests.FaultSettings);
        var leader = await cluster.WaitForLeaderAsync(TimeSpan.FromSeconds(10));
        var followers = Enumerable.Range(0, 3).Where(i => i != leader).ToArray();
        var follower = followers[0];
        var faults = cluster.Service<PartitionState>(leader);

        // The follower is cut off (as if paused): every request the leader sends it is copied here
        // and not delivered, and repeats the follower's missing suffix, growing as writes arrive.
        faults.Block([InProcessCluster.Ids[follower]]);
        var log = cluster.Service<IPersistentState>(follower);
        var committedBefore = log.LastCommittedEntryIndex;
        using var client = cluster.Client(leader);
        var capture = faults.CaptureNextAppendAsync(InProcessCluster.Ids[follower]);
        var first = client.PutAsync("/cache/stale/first", new StringContent("1"));
        var early = await capture.WaitAsync(TimeSpan.FromSeconds(10));

        // The first message captured can be a heartbeat that left before the write: take the first that carries it.
        for (var attempt = 0; attempt < 50 && End(early) <= committedBefore; attempt++)
        {
            early = await faults.CaptureNextAppendAsync(InProcessCluster.Ids[follower]).WaitAsync(TimeSpan.FromSeconds(10));
        }

        Assert.True(End(early) > committedBefore, $"no request carried the write ({End(early)}, committed {committedBefore})");
        var second = client.PutAsync("/cache/stale/second", new StringContent("2"));
        var late = early;
        for (var attempt = 0; attempt < 50 && End(late) <= End(early); attempt++)
        {
            late = await faults.CaptureNextAppendAsync(InProcessCluster.Ids[follower]).WaitAsync(TimeSpan.FromSeconds(10));
        }

        Assert.True(End(late) > End(early), $"no longer request was sent ({End(early)}, {End(late)})");

        // Here the other follower let the writes commit meanwhile; with it slow too, the newer
        // request would have carried the commit index the follower already knew. Deliver it that way,
        // so the follower still holds the entries uncommitted when the older request arrives.
        late = late.WithHeader("X-Raft-Commit-Index", committedBefore.ToString(CultureInfo.InvariantCulture));

        // The follower wakes up and handles the newer request first, then the older one.
        using var raw = cluster.PeerClient(leader); // signed afresh as the leader: the cluster secret is on
        using (var response = await raw.SendAsync(late.ToRequest()))
        {
            Assert.True(response.IsSuccessStatusCode, $"newer request: {(int)response.StatusCode}");
        }

        var acknowledged = log.LastEntryIndex;
        Assert.True(acknowledged >= End(late), $"the follower holds {acknowledged} after appending up to {End(late)}");
        Assert.True(log.LastCommittedEntryIndex < End(early), "the entries must still be uncommitted on the follower");

        using (var response = await raw.SendAsync(early.ToRequest()))
        {
            Assert.True(response.IsSuccessStatusCode, $"older request: {(int)response.StatusCode}");
        }

        Assert.True(log.LastEntryIndex >= acknowledged, $"the follower's log went back from {acknowledged} to {log.LastEntryIndex}: entries it had acknowledged were cut");

        faults.Heal();
        await Task.WhenAll(first, second);
    }

    private static long End(CapturedRequest request) =>
        Header(request, "X-Raft-Preceding-Record-Index") + Header(request, "X-Raft-Entries-Count");

    private static long Header(CapturedRequest request, string name) =>
        long.Parse(request.Headers.Single(h => h.Key == name).Value[0], CultureInfo.InvariantCulture);
}
