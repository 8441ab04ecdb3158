using AspireCache.Client;
using AspireCache.Contracts;
using AspireCache.Tests.InProcess;
using AspireCache.Verification;
using Xunit.Abstractions;

namespace AspireCache.Tests.Verification;

/// <summary>
/// The .NET client's read coalescing under the linearizability checker, in direct mode and through
/// the router: readers share one client (so that their reads travel together as
/// <c>POST /cluster/read-batch</c>), writers write through another, on a few keys, while the leader
/// is stopped and comes back. Every read must be one a single linearizable GET could have given.
/// </summary>
[Collection(InProcessCollection.Name)]
public sealed class ClientReadCoalescingTests(ITestOutputHelper output)
{
    private const int Readers = 16;
    private const int Writers = 4;

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Coalesced_client_reads_are_linearizable_across_a_leader_crash(bool direct)
    {
        await using var cluster = await InProcessCluster.StartAsync(PartitionTests.FaultSettings);
        await using var router = direct ? null : await ReadyRouter.StartAsync(cluster, new Dictionary<string, string?> { ["Router:RetryDeadline"] = "00:00:03" });
        var leader = await cluster.WaitForLeaderAsync(TimeSpan.FromSeconds(10));

        var batches = new ClientCoalescingLoad.BatchCounter { InnerHandler = new SocketsHttpHandler() };
        AspireCacheClient NewClient(HttpMessageHandler handler) => new(
            new HttpClient(handler) { Timeout = Timeout.InfiniteTimeSpan, BaseAddress = router?.Router.Url },
            new AspireCacheClientOptions { Nodes = direct ? [.. cluster.Urls] : [], Credential = cluster.Credential, Deadline = TimeSpan.FromSeconds(5) });
        await using var readers = NewClient(batches);
        await using var writers = NewClient(new SocketsHttpHandler());

        var prefix = $"direct-coalesced-{Guid.NewGuid():N}/";
        var keys = Enumerable.Range(0, 3).Select(i => $"{prefix}{i}").ToArray();
        var history = new HistoryRecorder();
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var clients = new List<Task>();
        for (var c = 0; c < Readers + Writers; c++)
        {
            var clientId = c;
            clients.Add(Task.Run(() => clientId < Writers
                ? ClientCoalescingLoad.WriteAsync(clientId, writers, keys, history, stop.Token)
                : ClientCoalescingLoad.ReadAsync(clientId, readers, keys, history, stop.Token)));
        }

        await Task.Delay(TimeSpan.FromSeconds(3));
        await cluster.StopNodeAsync(leader);
        await Task.Delay(TimeSpan.FromSeconds(2));
        await cluster.StartNodeAsync(leader);
        await Task.WhenAll(clients);

        output.WriteLine($"{(direct ? "direct mode" : "through the router")}: stopped node{leader + 1}; {batches.ReadBatches} read batches answered, {batches.Gets} GETs");
        var (reads, writes) = HistoryCheck.AssertLinearizable(history, output, direct ? "direct-coalesced-reads" : "client-coalesced-reads");
        Assert.True(reads > 300 && writes > 20, "too few acknowledged operations to mean anything");
        Assert.True(batches.ReadBatches > 10, "hardly any read was answered by a batch: the test did not exercise what it checks");
    }
}
