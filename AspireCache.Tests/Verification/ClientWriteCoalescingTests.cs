using AspireCache.Client;
using AspireCache.Contracts;
using AspireCache.Tests.InProcess;
using AspireCache.Verification;
using Xunit.Abstractions;

namespace AspireCache.Tests.Verification;

/// <summary>
/// The .NET client's write coalescing under the linearizability checker, in direct mode and through
/// the router: writers share one client (so that their writes travel together as
/// <c>POST /cluster/write-batch</c>), readers read through another, on a few keys, while the leader is
/// stopped and comes back. Every acknowledged write must be applied once, between its call and its
/// answer, and every read must be one a single linearizable GET could have given; a write whose batch
/// was cut by the stop goes on alone with its own idempotency key, or is reported outcome unknown.
/// </summary>
[Collection(InProcessCollection.Name)]
public sealed class ClientWriteCoalescingTests(ITestOutputHelper output)
{
    private const int Readers = 6;
    private const int Writers = 12;

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Coalesced_client_writes_are_linearizable_across_a_leader_crash(bool direct)
    {
        await using var cluster = await InProcessCluster.StartAsync(PartitionTests.FaultSettings);
        await using var router = direct ? null : await ReadyRouter.StartAsync(cluster, new Dictionary<string, string?> { ["Router:RetryDeadline"] = "00:00:03" });
        var leader = await cluster.WaitForLeaderAsync(TimeSpan.FromSeconds(10));

        var batches = new ClientCoalescingLoad.BatchCounter { InnerHandler = new SocketsHttpHandler() };
        AspireCacheClient NewClient(HttpMessageHandler handler, bool coalesceWrites) => new(
            new HttpClient(handler) { Timeout = Timeout.InfiniteTimeSpan, BaseAddress = router?.Router.Url },
            new AspireCacheClientOptions { Nodes = direct ? [.. cluster.Urls] : [], Credential = cluster.Credential, Deadline = TimeSpan.FromSeconds(5), CoalesceWrites = coalesceWrites });
        await using var writers = NewClient(batches, coalesceWrites: true);
        await using var readers = NewClient(new SocketsHttpHandler(), coalesceWrites: false);

        var prefix = $"client-coalesced-writes-{Guid.NewGuid():N}/";
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

        output.WriteLine($"{(direct ? "direct mode" : "through the router")}: stopped node{leader + 1}; {batches.WriteBatches} write batches answered, {batches.Puts} writes alone");
        var (reads, writes) = HistoryCheck.AssertLinearizable(history, output, direct ? "direct-coalesced-writes" : "client-coalesced-writes");
        Assert.True(reads > 100 && writes > 100, "too few acknowledged operations to mean anything");
        Assert.True(batches.WriteBatches > 10, "hardly any write was answered by a batch: the test did not exercise what it checks");
    }
}
