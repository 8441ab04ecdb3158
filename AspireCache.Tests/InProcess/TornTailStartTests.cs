using AspireCache.Tests.Unit;
using Microsoft.Extensions.Logging;

namespace AspireCache.Tests.InProcess;

/// <summary>A node whose WAL tail a kill left half rewritten mends it when it starts, before Raft runs (<c>TornTailRepair</c>).</summary>
[Collection(InProcessCollection.Name)]
public sealed class TornTailStartTests
{
    [Fact]
    public async Task A_node_started_on_a_torn_log_tail_mends_it_and_says_so()
    {
        var logs = new CapturingLoggerProvider();
        await using var cluster = new InProcessCluster(configureNode: builder => builder.Logging.AddProvider(logs));
        await TornTailRepairTests.TearAsync(Path.Combine(cluster.DataRoot, cluster.NodeIds[0]));

        await cluster.StartNodeAsync(0);

        Assert.Single(logs.Lines, l => l.Contains("entries 6-7 were written again and the stale entries after them, up to 10, dropped", StringComparison.Ordinal));
        Assert.Equal(7, cluster.Service<DotNext.Net.Cluster.Consensus.Raft.IPersistentState>(0).LastEntryIndex);
    }
}
