using System.Net;
using AspireCache.Node.Diagnostics;
using AspireCache.Node.Raft.DotNextShims;
using AspireCache.Tests.InProcess;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace AspireCache.Tests.Unit;

/// <summary>DotNext's per-request peer warnings are sampled, one line per event per peer per interval; every other line passes.</summary>
public sealed class RaftLogThrottleTests
{
    // The shape of DotNext 6.12's own messages (LogMessages.cs): event id, level, template with {Member}, the exception.
    private static readonly Action<ILogger, EndPoint, Exception?> MemberUnavailable =
        LoggerMessage.Define<EndPoint>(LogLevel.Warning, new EventId(75001, "DotNext.AspNetCore.Cluster.MemberUnavailable"), "Cluster member {Member} is unavailable");

    private static readonly Action<ILogger, EndPoint, Exception?> Transition =
        LoggerMessage.Define<EndPoint>(LogLevel.Warning, new EventId(74015, "DotNext.Net.Cluster.ReplicationFailed"), "Replication of {Member} is failed");

    [Fact]
    public void Member_unavailable_is_written_once_per_peer_per_interval_with_the_count_in_between_and_other_lines_pass()
    {
        var clock = new SteppedClock();
        var lines = new CapturingLoggerProvider();
        using var services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        var meters = services.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>();
        long suppressedCount = 0;
        using var listener = Measurements.ListenTo("aspirecache.raft.log_suppressed", (_, n) => Interlocked.Add(ref suppressedCount, n), scope: meters);
        using var host = LoggerFactory.Create(b => b.AddProvider(lines).SetMinimumLevel(LogLevel.Trace));
        var factory = new ThrottlingLoggerFactory(host, new LogSampler(clock, RaftLogThrottle.Interval), new NodeTelemetry(meters));
        var logger = factory.CreateLogger("DotNext.Net.Cluster.Consensus.Raft.Http.RaftHttpCluster");
        var node2 = new DnsEndPoint("node2", 7001);
        var node3 = new DnsEndPoint("node3", 7001);

        for (var i = 0; i < 500; i++)
        {
            MemberUnavailable(logger, node3, new HttpRequestException("refused"));
            Transition(logger, node3, null); // not a throttled event: every one is written
        }

        MemberUnavailable(logger, node2, null); // another peer has its own line at once

        Assert.Equal(1, lines.Lines.Count(l => l.Contains("node3:7001 is unavailable", StringComparison.Ordinal)));
        Assert.Equal(1, lines.Lines.Count(l => l.Contains("node2:7001 is unavailable", StringComparison.Ordinal)));
        Assert.Equal(500, lines.Lines.Count(l => l.Contains("Replication of", StringComparison.Ordinal)));

        clock.Advance(RaftLogThrottle.Interval);
        MemberUnavailable(logger, node3, null);
        Assert.Equal(2, lines.Lines.Count(l => l.Contains("node3:7001 is unavailable", StringComparison.Ordinal)));
        Assert.Contains(lines.Lines, l => l.Contains("not logged 499 more times", StringComparison.Ordinal) && l.Contains("node3:7001", StringComparison.Ordinal));
        Assert.Equal(499, Interlocked.Read(ref suppressedCount)); // the metric counts every line not written
    }
}
