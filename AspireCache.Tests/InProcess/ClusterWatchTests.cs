using System.Diagnostics;
using System.Net.Http.Json;

namespace AspireCache.Tests.InProcess;

/// <summary><c>/cluster/watch</c>: the long poll the router and direct-mode clients follow elections with.</summary>
[Collection(InProcessCollection.Name)]
public sealed class ClusterWatchTests
{
    [Fact]
    public async Task The_watch_answers_when_the_nodes_role_differs_from_the_callers_and_waits_while_it_matches()
    {
        await using var cluster = await InProcessCluster.StartAsync();
        var leader = await cluster.WaitForLeaderAsync(TimeSpan.FromSeconds(10));
        var status = await cluster.StatusAsync(leader);
        using var client = cluster.Client(leader);

        // A caller that still sees this node as a follower (it was elected, not yet ready) hears at once.
        var clock = Stopwatch.StartNew();
        var changed = await client.GetFromJsonAsync<ClusterStatusResponse>($"/cluster/watch?term={status.Term}&leader={status.LeaderId}&role=follower&waitMs=10000");
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"answered after {clock.Elapsed}");
        Assert.Equal("leader", changed!.Role);

        // A caller that knows everything waits out its waitMs.
        clock.Restart();
        var unchanged = await client.GetFromJsonAsync<ClusterStatusResponse>($"/cluster/watch?term={status.Term}&leader={status.LeaderId}&role=leader&waitMs=600");
        Assert.True(clock.Elapsed >= TimeSpan.FromMilliseconds(500), $"answered after {clock.Elapsed}");
        Assert.Equal(status.Term, unchanged!.Term);
    }

    [Fact]
    public async Task A_caller_that_knows_of_no_leader_waits_for_one_instead_of_being_answered_at_once()
    {
        await using var cluster = await InProcessCluster.StartAsync();
        var leader = await cluster.WaitForLeaderAsync(TimeSpan.FromSeconds(10));
        var survivor = (leader + 1) % 3;
        await cluster.StopNodeAsync(leader);
        await cluster.StopNodeAsync((leader + 2) % 3);

        // Alone, the survivor knows no leader once its election timeout has passed (its pre-votes fail,
        // so its term stays).
        using var client = cluster.Client(survivor);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        ClusterStatusResponse status;
        while ((status = (await client.GetFromJsonAsync<ClusterStatusResponse>("/cluster/status", cts.Token))!).LeaderId is not null)
        {
            await Task.Delay(50, cts.Token);
        }

        // "leader=" is "no leader": nothing differs, so the node waits (it used to answer at once, and a
        // leaderless router or client then asked again and again for as long as the election lasted).
        var clock = Stopwatch.StartNew();
        var answer = await client.GetFromJsonAsync<ClusterStatusResponse>($"/cluster/watch?term={status.Term}&leader=&waitMs=600", cts.Token);
        Assert.True(clock.Elapsed >= TimeSpan.FromMilliseconds(500) || answer!.Term != status.Term, $"answered after {clock.Elapsed} with nothing changed");
        Assert.Null(answer!.LeaderId);
    }
}
