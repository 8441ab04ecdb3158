using System.Diagnostics;

namespace AspireCache.Tests.InProcess;

/// <summary>
/// A follower learns that an entry committed only from the leader's next AppendEntries. The leader
/// announces a commit that no queued write's round will carry (after a 1 ms grace for one to arrive), so
/// followers' stale reads, watches and read-index waits see a lone write at once, not at the next heartbeat.
/// </summary>
[Collection(InProcessCollection.Name)]
public sealed class CommitAnnounceTests
{
    [Fact]
    public async Task Followers_apply_a_lone_write_long_before_the_next_heartbeat()
    {
        // Heartbeats every 2.5 s (half the lower election timeout): a follower that learned of the commit
        // only from one would take ~2.5 s (DotNext restarts the heartbeat wait after each round), past the 1.5 s allowed.
        await using var cluster = await InProcessCluster.StartAsync(new Dictionary<string, string?>
        {
            ["Cluster:LowerElectionTimeoutMs"] = "5000",
            ["Cluster:UpperElectionTimeoutMs"] = "6000",
        });
        var leader = await cluster.WaitForLeaderAsync(TimeSpan.FromSeconds(60));
        await cluster.WaitUntilWritableAsync(TimeSpan.FromSeconds(30));
        for (var i = 0; i < 5; i++)
        {
            leader = await cluster.PutToLeaderAsync(leader, $"/cache/announce/k{i}", "v"u8.ToArray());
            var revision = (await cluster.StatusAsync(leader)).Revision;
            var started = Stopwatch.GetTimestamp();
            foreach (var follower in Enumerable.Range(0, 3).Where(n => n != leader))
            {
                while ((await cluster.StatusAsync(follower)).Revision < revision)
                {
                    Assert.True(Stopwatch.GetElapsedTime(started) < TimeSpan.FromSeconds(1.5), $"node{follower + 1} had not applied revision {revision} after 1.5 s");
                    await Task.Delay(5);
                }
            }
        }
    }
}
