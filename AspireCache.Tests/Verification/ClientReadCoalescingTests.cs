using AspireCache.Tests.InProcess;
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
        var (batches, reads, writes, stopped) = await ClientCoalescingLoad.RunAcrossLeaderCrashAsync(
            output, direct, Readers, Writers, countReaders: true, direct ? "direct-coalesced-reads" : "client-coalesced-reads");
        output.WriteLine($"{(direct ? "direct mode" : "through the router")}: stopped node{stopped + 1}; {batches.ReadBatches} read batches answered, {batches.Gets} GETs");
        Assert.True(reads > 300 && writes > 20, "too few acknowledged operations to mean anything");
        Assert.True(batches.ReadBatches > 10, "hardly any read was answered by a batch: the test did not exercise what it checks");
    }
}
