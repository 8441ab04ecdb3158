using AspireCache.Tests.InProcess;
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
        var (batches, reads, writes, stopped) = await ClientCoalescingLoad.RunAcrossLeaderCrashAsync(
            output, direct, Readers, Writers, countReaders: false, direct ? "direct-coalesced-writes" : "client-coalesced-writes");
        output.WriteLine($"{(direct ? "direct mode" : "through the router")}: stopped node{stopped + 1}; {batches.WriteBatches} write batches answered, {batches.Puts} writes alone");
        Assert.True(reads > 100 && writes > 100, "too few acknowledged operations to mean anything");
        Assert.True(batches.WriteBatches > 10, "hardly any write was answered by a batch: the test did not exercise what it checks");
    }
}
