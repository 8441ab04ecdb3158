using AspireCache.Node.Diagnostics;

namespace AspireCache.Node.Raft.DotNextShims;

/// <summary>
/// Keeps DotNext's per-request peer warnings from flooding the log while a peer is down.
/// <para>
/// DotNext logs "Cluster member X is unavailable" (events 74010 and 75001) and "Cluster member X is too far
/// behind the leader" (74044) at Warning, the first two with the exception and its stack trace, on
/// <em>every</em> failed Raft request. While one node is down a loaded leader fails one per replication
/// round: measured, 610 such lines with stack traces in the 5 s after a leader kill (~120 a second, on the
/// CPU the new leader needs most), and they go on for as long as the peer is down, into the console and
/// the Aspire dashboard. This passes the first of each event per peer at once and then one per
/// <see cref="Interval"/>, with a line of ours (event 1052) saying how many were not written;
/// <c>aspirecache.raft.log_suppressed</c> counts them. Every other DotNext line is untouched.
/// </para>
/// <para>
/// How: DotNext's cluster takes its logger from <see cref="ILoggerFactory"/> when the service provider
/// builds it (<c>RaftHttpCluster.Create</c>, an internal type). <see cref="Install"/> wraps that one
/// registration so that the factory it sees hands out throttled loggers; nothing else in the node is affected.
/// </para>
/// </summary>
public static class RaftLogThrottle
{
    /// <summary>One line per event per peer per interval.</summary>
    public static readonly TimeSpan Interval = TimeSpan.FromSeconds(10);

    /// <summary>DotNext's repeated peer warnings: member unavailable (consensus, HTTP transport), member too far behind.</summary>
    public static bool IsThrottled(int eventId) => eventId is 74010 or 75001 or 74044;

    private const string ClusterTypeName = "DotNext.Net.Cluster.Consensus.Raft.Http.RaftHttpCluster";

    /// <summary>
    /// Wraps DotNext's cluster registration (call after <c>JoinCluster</c>). Throws at startup when it is not
    /// there (a DotNext upgrade changed it), as <c>LeaderStickiness</c> does, rather than flood the log again.
    /// </summary>
    public static void Install(IServiceCollection services)
    {
        for (var i = services.Count - 1; i >= 0; i--)
        {
            var descriptor = services[i];
            if (descriptor.ServiceType.FullName == ClusterTypeName && descriptor is { IsKeyedService: false, ImplementationFactory: { } create })
            {
                services[i] = ServiceDescriptor.Describe(
                    descriptor.ServiceType,
                    sp => create(new LoggerFactoryOverride(sp, new ThrottlingLoggerFactory(
                        sp.GetRequiredService<ILoggerFactory>(),
                        new LogSampler(sp.GetRequiredService<TimeProvider>(), Interval),
                        sp.GetRequiredService<NodeTelemetry>()))),
                    descriptor.Lifetime);
                return;
            }
        }

        throw new InvalidOperationException($"{ClusterTypeName} is not registered as DotNext 6.12 registers it (a factory); RaftLogThrottle needs re-examining for this DotNext.");
    }

    /// <summary>The service provider DotNext's factory sees: ours, but with the throttling logger factory.</summary>
    private sealed class LoggerFactoryOverride(IServiceProvider inner, ILoggerFactory loggers) : IServiceProvider
    {
        public object? GetService(Type serviceType) => serviceType == typeof(ILoggerFactory) ? loggers : inner.GetService(serviceType);
    }
}

/// <summary>Hands out <see cref="ThrottlingLogger"/>s over the host's loggers (owns nothing: disposing it does nothing).</summary>
public sealed class ThrottlingLoggerFactory(ILoggerFactory inner, LogSampler sampler, NodeTelemetry telemetry) : ILoggerFactory
{
    public ILogger CreateLogger(string categoryName) => new ThrottlingLogger(inner.CreateLogger(categoryName), sampler, telemetry);

    public void AddProvider(ILoggerProvider provider) => inner.AddProvider(provider);

    public void Dispose()
    {
    }
}

/// <summary>Passes every line, except DotNext's repeated peer warnings (see <see cref="RaftLogThrottle"/>), which it samples per event and peer.</summary>
public sealed class ThrottlingLogger(ILogger inner, LogSampler sampler, NodeTelemetry telemetry) : ILogger
{
    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => inner.BeginScope(state);

    public bool IsEnabled(LogLevel logLevel) => inner.IsEnabled(logLevel);

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        if (!RaftLogThrottle.IsThrottled(eventId.Id) || !inner.IsEnabled(logLevel))
        {
            inner.Log(logLevel, eventId, state, exception, formatter);
            return;
        }

        var member = MemberOf(state);
        if (!sampler.ShouldLog($"{eventId.Id} {member}", out var suppressed))
        {
            telemetry.RaftLogSuppressed(eventId.Id);
            return;
        }

        inner.Log(logLevel, eventId, state, exception, formatter);
        if (suppressed > 0)
        {
            NodeLog.RaftWarningsSuppressed(inner, eventId.Name ?? eventId.Id.ToString(System.Globalization.CultureInfo.InvariantCulture), member, suppressed, sampler.Interval.TotalSeconds);
        }
    }

    /// <summary>The <c>{Member}</c> argument of DotNext's message (its endpoint), or empty.</summary>
    private static string MemberOf<TState>(TState state)
    {
        if (state is IReadOnlyList<KeyValuePair<string, object?>> values)
        {
            foreach (var (key, value) in values)
            {
                if (key == "Member")
                {
                    return value?.ToString() ?? "";
                }
            }
        }

        return "";
    }
}
