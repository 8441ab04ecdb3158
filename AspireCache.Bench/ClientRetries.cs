using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using AspireCache.Client;

namespace AspireCache.Bench;

/// <summary>
/// Counts what AspireCache.Client hides inside a call: its retries (<c>aspirecache.client.retries</c>, by
/// operation and reason) and its watch reconnects (<c>aspirecache.client.watch.reconnects</c>, by reason),
/// from the client's own meter. The meter is process-wide: every client in the process counts (in the
/// tool that is only its own; in a test process, other tests' clients may add to it).
/// </summary>
internal sealed class ClientRetries : IDisposable
{
    private const string RetriesInstrument = "aspirecache.client.retries";
    private const string ReconnectsInstrument = "aspirecache.client.watch.reconnects";

    private readonly ConcurrentDictionary<string, long> _counts = new(StringComparer.Ordinal);
    private readonly MeterListener _listener = new();

    public ClientRetries()
    {
        _listener.InstrumentPublished = static (instrument, listener) =>
        {
            if (instrument.Meter.Name == AspireCacheClientTelemetry.Name && instrument.Name is RetriesInstrument or ReconnectsInstrument)
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
        {
            string? operation = null, reason = null;
            foreach (var tag in tags)
            {
                switch (tag.Key)
                {
                    case "operation":
                        operation = tag.Value as string;
                        break;
                    case "reason":
                        reason = tag.Value as string;
                        break;
                }
            }

            var kind = instrument.Name == ReconnectsInstrument ? $"watch reconnect {reason}" : $"{operation} {reason}";
            _counts.AddOrUpdate(kind, value, (_, n) => n + value);
        });
        _listener.Start();
    }

    /// <summary>The counts so far.</summary>
    public Dictionary<string, long> Snapshot() => new(_counts, StringComparer.Ordinal);

    /// <summary>What was counted between two snapshots (kinds with no new count left out).</summary>
    public static Dictionary<string, long> Since(IReadOnlyDictionary<string, long> before, IReadOnlyDictionary<string, long> after)
    {
        var delta = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var (kind, n) in after)
        {
            var d = n - before.GetValueOrDefault(kind);
            if (d > 0)
            {
                delta[kind] = d;
            }
        }

        return delta;
    }

    public void Dispose() => _listener.Dispose();
}
