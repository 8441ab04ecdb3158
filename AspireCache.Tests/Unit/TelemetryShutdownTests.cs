using System.Diagnostics;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace AspireCache.Tests.Unit;

public sealed class TelemetryShutdownTests
{
    /// <summary>
    /// With the OTLP collector unreachable, the exporter retries its final export for ~10 s and the
    /// providers' disposal used to wait for it: a stopping node hung until it was killed.
    /// </summary>
    [Fact]
    public async Task A_service_stops_promptly_when_the_telemetry_collector_is_unreachable()
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { EnvironmentName = "Production", ApplicationName = "telemetry-shutdown-test" });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["OTEL_EXPORTER_OTLP_ENDPOINT"] = $"http://127.0.0.1:{TestPorts.Free()}", // nothing listens there
            // What Aspire sets for a resource.
            ["OTEL_EXPORTER_OTLP_PROTOCOL"] = "grpc",
            ["OTEL_DOTNET_EXPERIMENTAL_OTLP_RETRY"] = "in_memory",
            ["OTEL_BSP_SCHEDULE_DELAY"] = "1000",
            ["OTEL_BLRP_SCHEDULE_DELAY"] = "1000",
            ["OTEL_METRIC_EXPORT_INTERVAL"] = "1000",
        });
        builder.WebHost.UseUrls($"http://127.0.0.1:{TestPorts.Free()}");
        builder.AddBasicServiceDefaults("telemetry-shutdown-test");
        var app = builder.Build();
        await app.StartAsync();

        // Something to export: a span, a log record and a metric.
        using (var source = new ActivitySource("telemetry-shutdown-test"))
        using (source.StartActivity("work"))
        {
            app.Logger.LogWarning("a log record to export");
        }

        var stopping = Stopwatch.StartNew();
        await app.StopAsync();
        await app.DisposeAsync();
        stopping.Stop();

        // The bound is 1 s per provider, in parallel; unbounded it took ≥ 10 s.
        Assert.True(stopping.Elapsed < TimeSpan.FromSeconds(6), $"stop and dispose took {stopping.Elapsed.TotalSeconds:0.0} s");
    }
}
