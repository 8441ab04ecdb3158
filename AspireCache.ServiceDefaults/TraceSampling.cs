using System.Diagnostics;
using OpenTelemetry.Trace;

namespace Microsoft.Extensions.Hosting;

/// <summary>
/// Which traces the services record (head sampling, decided where a trace starts):
/// <list type="bullet">
/// <item>a request that arrives with a trace context follows it: a caller that traces its request (a
/// service with OpenTelemetry, the catalog sample) gets the whole trace through router, node, commit and
/// read-index rounds; a caller that decided not to trace gets none;</item>
/// <item>a trace that starts here (curl, a benchmark, the router's own root span) is recorded up to
/// <see cref="RootTracesPerSecondKey"/> times a second per process (10 by default): everything while
/// a developer tries requests by hand, a steady sample under load, where recording and exporting a span
/// per request would cost a fifth of the read throughput and flood the dashboard.</item>
/// </list>
/// Metrics still count every request. <c>Telemetry:SampleAllTraces=true</c> records every trace again
/// (then <c>OTEL_TRACES_SAMPLER</c>, set to <c>always_on</c> by Aspire, applies).
/// </summary>
public static class TraceSampling
{
    /// <summary>Configuration key: root traces recorded per second per process (0: only traces a caller started).</summary>
    public const string RootTracesPerSecondKey = "Telemetry:RootTracesPerSecond";

    /// <summary>Configuration key: true to record every trace (no sampling by this project).</summary>
    public const string SampleAllTracesKey = "Telemetry:SampleAllTraces";

    /// <summary>The default of <see cref="RootTracesPerSecondKey"/>.</summary>
    public const double DefaultRootTracesPerSecond = 10;
}

/// <summary>
/// Parent-based sampling with a rate limit on new traces: a span with a parent is recorded exactly when
/// its parent was; an outgoing call (<see cref="ActivityKind.Client"/>) with no parent is not (traces
/// start where a request comes in, not in background calls); any other root span is recorded while the
/// token bucket (one token per 1/rate s, at most one second's worth saved) has a token. Samplers see no
/// path or tags when ASP.NET Core and HttpClient create their activities (checked on .NET 10), so
/// filtering by path (<see cref="TraceFilters"/>) happens after this decision. Unrecorded spans still propagate their context (sampled flag off),
/// so the services downstream drop the same trace instead of starting their own.
/// </summary>
public sealed class RateLimitedRootSampler : Sampler
{
    private static readonly SamplingResult Record = new(SamplingDecision.RecordAndSample);
    private static readonly SamplingResult Drop = new(SamplingDecision.Drop);

    private readonly Lock _lock = new();
    private readonly TimeProvider _clock;
    private readonly double _perSecond;
    private double _tokens;
    private long _last;

    /// <param name="perSecond">Root traces recorded per second (0: none).</param>
    /// <param name="clock">The time source (tests step it).</param>
    public RateLimitedRootSampler(double perSecond, TimeProvider? clock = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(perSecond);
        _perSecond = perSecond;
        _clock = clock ?? TimeProvider.System;
        _tokens = Math.Max(1, perSecond);
        _last = _clock.GetTimestamp();
        Description = $"ParentBased{{root=RateLimited({perSecond.ToString(System.Globalization.CultureInfo.InvariantCulture)}/s)}}";
    }

    /// <inheritdoc />
    public override SamplingResult ShouldSample(in SamplingParameters samplingParameters)
    {
        var parent = samplingParameters.ParentContext;
        if (parent.TraceId != default)
        {
            return (parent.TraceFlags & ActivityTraceFlags.Recorded) != 0 ? Record : Drop;
        }

        // An outgoing call with no request around it is background work (the router's topology polls,
        // DotNext's heartbeats, a client's watch): it starts no trace and spends nothing of the
        // allowance, which such calls (dozens a second) would otherwise use up before any request.
        if (samplingParameters.Kind == ActivityKind.Client)
        {
            return Drop;
        }

        return TryTake() ? Record : Drop;
    }

    private bool TryTake()
    {
        if (_perSecond <= 0)
        {
            return false;
        }

        lock (_lock)
        {
            var now = _clock.GetTimestamp();
            _tokens = Math.Min(Math.Max(1, _perSecond), _tokens + (_clock.GetElapsedTime(_last, now).TotalSeconds * _perSecond));
            _last = now;
            if (_tokens < 1)
            {
                return false;
            }

            _tokens -= 1;
            return true;
        }
    }
}
