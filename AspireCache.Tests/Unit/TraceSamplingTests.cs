using System.Diagnostics;
using Microsoft.Extensions.Hosting;
using OpenTelemetry.Trace;

namespace AspireCache.Tests.Unit;

/// <summary>Head sampling (<see cref="RateLimitedRootSampler"/>): callers' decisions followed, new traces rate-limited.</summary>
public sealed class TraceSamplingTests
{
    [Fact]
    public void A_span_with_a_parent_is_recorded_exactly_when_the_parent_was()
    {
        var sampler = new RateLimitedRootSampler(0); // no root traces at all: only parents decide
        var traced = new ActivityContext(ActivityTraceId.CreateRandom(), ActivitySpanId.CreateRandom(), ActivityTraceFlags.Recorded, isRemote: true);
        var untraced = new ActivityContext(ActivityTraceId.CreateRandom(), ActivitySpanId.CreateRandom(), ActivityTraceFlags.None, isRemote: true);

        Assert.Equal(SamplingDecision.RecordAndSample, Decide(sampler, traced));
        Assert.Equal(SamplingDecision.Drop, Decide(sampler, untraced));
        Assert.Equal(SamplingDecision.Drop, Decide(sampler, default));
    }

    [Fact]
    public void New_traces_are_recorded_up_to_the_rate_and_the_allowance_refills_with_time()
    {
        var clock = new SteppedClock();
        var sampler = new RateLimitedRootSampler(10, clock);

        // A burst: one second's worth (10) recorded, the rest dropped.
        var recorded = Enumerable.Range(0, 100).Count(_ => Decide(sampler, default) == SamplingDecision.RecordAndSample);
        Assert.Equal(10, recorded);

        // 100 ms later: one more; a long pause saves no more than one second's worth.
        clock.Advance(TimeSpan.FromMilliseconds(100));
        Assert.Equal(SamplingDecision.RecordAndSample, Decide(sampler, default));
        Assert.Equal(SamplingDecision.Drop, Decide(sampler, default));
        clock.Advance(TimeSpan.FromMinutes(5));
        Assert.Equal(10, Enumerable.Range(0, 100).Count(_ => Decide(sampler, default) == SamplingDecision.RecordAndSample));
    }

    [Fact]
    public void Background_calls_start_no_trace_and_spend_nothing_of_the_allowance()
    {
        var sampler = new RateLimitedRootSampler(1, new SteppedClock());

        // Dozens of outgoing calls with no request around them (topology polls, Raft heartbeats)...
        for (var i = 0; i < 50; i++)
        {
            Assert.Equal(SamplingDecision.Drop, Decide(sampler, default, ActivityKind.Client));
        }

        // ...leave the one trace a second for the request that comes in; a call made inside a traced request is traced.
        Assert.Equal(SamplingDecision.RecordAndSample, Decide(sampler, default));
        var traced = new ActivityContext(ActivityTraceId.CreateRandom(), ActivitySpanId.CreateRandom(), ActivityTraceFlags.Recorded);
        Assert.Equal(SamplingDecision.RecordAndSample, Decide(sampler, traced, ActivityKind.Client));
    }

    private static SamplingDecision Decide(Sampler sampler, ActivityContext parent, ActivityKind kind = ActivityKind.Server) =>
        sampler.ShouldSample(new SamplingParameters(parent, ActivityTraceId.CreateRandom(), "GET /cache/{**key}", kind)).Decision;
}
