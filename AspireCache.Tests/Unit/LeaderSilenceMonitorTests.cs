using AspireCache.Node.Raft;
using Microsoft.Extensions.DependencyInjection;

namespace AspireCache.Tests.Unit;

public sealed class LeaderSilenceMonitorTests
{
    [Fact]
    public void The_longest_gap_between_appends_of_one_term_is_kept_and_a_new_term_starts_afresh()
    {
        var clock = new SteppedClock();
        using var services = new ServiceCollection().AddMetrics().BuildServiceProvider();
        var monitor = new LeaderSilenceMonitor(clock, new AspireCache.Node.Diagnostics.NodeTelemetry(services.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>()));

        Assert.Null(monitor.LongestMs);
        monitor.Arrived(3);
        clock.Advance(TimeSpan.FromMilliseconds(40));
        monitor.Arrived(3);
        clock.Advance(TimeSpan.FromMilliseconds(120));
        monitor.Arrived(3);
        clock.Advance(TimeSpan.FromMilliseconds(10));
        monitor.Arrived(3);
        Assert.Equal(120, monitor.LongestMs);

        // The silence across an election (old leader's last append, new leader's first) is not a leader's silence.
        clock.Advance(TimeSpan.FromMilliseconds(900));
        monitor.Arrived(4);
        clock.Advance(TimeSpan.FromMilliseconds(30));
        monitor.Arrived(4);
        Assert.Equal(120, monitor.LongestMs);
    }
}
