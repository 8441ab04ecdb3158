using Microsoft.Extensions.Logging;

namespace AspireCache.Tests.InProcess;

/// <summary>A node that is down costs the leader one "member unavailable" line per 10 s, not one per replication round.</summary>
[Collection(InProcessCollection.Name)]
public sealed class PeerWarningTests
{
    [Fact]
    public async Task While_a_follower_is_down_the_leader_does_not_log_every_failed_round_to_it()
    {
        var logs = new CapturingLoggerProvider();
        await using var cluster = await InProcessCluster.StartAsync(
            new Dictionary<string, string?> { ["Logging:LogLevel:DotNext"] = "Warning" },
            configureNode: builder => builder.Logging.AddProvider(logs));
        var leader = await cluster.WaitForLeaderAsync(TimeSpan.FromSeconds(10));
        var follower = (leader + 1) % 3;
        await cluster.StopNodeAsync(follower);

        using var client = cluster.Client(leader);
        const int Writes = 60;
        for (var i = 0; i < Writes; i++)
        {
            // Each write is its own replication round, and each round fails on the stopped follower.
            (await client.PutAsync($"/cache/peer-warning/{i}", new StringContent("v"))).EnsureSuccessStatusCode();
        }

        var unavailable = logs.Lines.Count(l => l.Contains("is unavailable", StringComparison.Ordinal));
        // Per node that talks to it (leader, maybe the other follower as a candidate), per event, per 10 s: a handful, not one per round.
        Assert.InRange(unavailable, 1, 8);
    }
}
