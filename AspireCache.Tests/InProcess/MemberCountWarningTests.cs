using Microsoft.Extensions.Logging;

namespace AspireCache.Tests.InProcess;

/// <summary>
/// DotNext 6.12's leader takes the middle of the first majority's answers as the commit index: safe with three
/// members, not with five (docs/failure-behaviour.md, "Known, not fixed"). A node of such a cluster says so when
/// it starts. One node is enough (the warning comes before Raft starts), so no election is waited for.
/// </summary>
[Collection(InProcessCollection.Name)]
public sealed class MemberCountWarningTests
{
    private const string Warning = "DotNext 6.12's leader can commit an entry that fewer members hold than every majority must include";

    [Fact]
    public async Task A_node_of_a_five_member_cluster_warns_that_failures_it_should_survive_could_lose_a_write()
    {
        var logs = new CapturingLoggerProvider();
        await using var cluster = new InProcessCluster(
            new Dictionary<string, string?>
            {
                ["Cluster:Members:node4"] = $"http://127.0.0.1:{TestPorts.Free()}/",
                ["Cluster:Members:node5"] = $"http://127.0.0.1:{TestPorts.Free()}/",
            },
            configureNode: builder => builder.Logging.AddProvider(logs));
        await cluster.StartNodeAsync(0);

        Assert.Single(logs.Lines, l => l.Contains(Warning, StringComparison.Ordinal) && l.Contains("5 members", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_node_of_a_three_member_cluster_does_not()
    {
        var logs = new CapturingLoggerProvider();
        await using var cluster = new InProcessCluster(
            new Dictionary<string, string?> { ["Logging:LogLevel:Default"] = "Information" },
            configureNode: builder => builder.Logging.AddProvider(logs));
        await cluster.StartNodeAsync(0);

        Assert.Single(logs.Lines, l => l.Contains("starting; members", StringComparison.Ordinal)); // the start was logged, and captured
        Assert.DoesNotContain(logs.Lines, l => l.Contains(Warning, StringComparison.Ordinal));
    }
}
