using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry;
using OpenTelemetry.Logs;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;

namespace Microsoft.Extensions.Hosting;

/// <summary>
/// Bounds how long telemetry may hold a stopping process. With the collector unreachable (the
/// Aspire dashboard gone, a collector down) the OTLP exporter retries an export for up to its
/// timeout, and disposing the providers waits for that export with no bound: a node asked to stop
/// then hung until it was killed (seen under Aspire: "Stop" took 12–20 s and ended in SIGKILL,
/// so the node never closed its WAL itself). After the host has stopped, each provider gets one
/// bounded shutdown (a final flush); what it cannot send by then is dropped. Their later disposal
/// finds them shut down and returns at once.
/// </summary>
internal sealed class TelemetryShutdown(IServiceProvider services) : IHostedLifecycleService
{
    /// <summary>The most a provider may take to flush and shut down.</summary>
    public static readonly TimeSpan Budget = TimeSpan.FromSeconds(1);

    public Task StoppedAsync(CancellationToken cancellationToken)
    {
        var budget = (int)Budget.TotalMilliseconds;
        BaseProvider?[] providers = [services.GetService<TracerProvider>(), services.GetService<MeterProvider>(), services.GetService<LoggerProvider>()];

        // In parallel: each may spend its whole budget on an unreachable collector.
        return Task.WhenAll(providers.Select(provider => Task.Run(() => Shutdown(provider, budget), CancellationToken.None)));
    }

    private static void Shutdown(BaseProvider? provider, int budget)
    {
        switch (provider)
        {
            case TracerProvider traces:
                traces.Shutdown(budget);
                break;
            case MeterProvider metrics:
                metrics.Shutdown(budget);
                break;
            case LoggerProvider logs:
                logs.Shutdown(budget);
                break;
        }
    }

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppingAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
