using System.Diagnostics.Metrics;

namespace AspireCache.Tests;

/// <summary>Listening to the project's own counters in tests.</summary>
internal static class Measurements
{
    /// <summary>
    /// Listens to one <c>long</c> instrument and hands each measurement's tags and value over: of any meter
    /// in this process, or only of meters made by <paramref name="scope"/> (an <see cref="IMeterFactory"/>: one
    /// host's instruments, when other tests' hosts run meanwhile).
    /// </summary>
    public static MeterListener ListenTo(string instrumentName, Action<IReadOnlyDictionary<string, object?>, long> measured, object? scope = null)
    {
        var listener = new MeterListener
        {
            InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Name == instrumentName && (scope is null || ReferenceEquals(instrument.Meter.Scope, scope)))
                {
                    l.EnableMeasurementEvents(instrument);
                }
            },
        };
        listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
        {
            var map = new Dictionary<string, object?>();
            foreach (var tag in tags)
            {
                map[tag.Key] = tag.Value;
            }

            measured(map, value);
        });
        listener.Start();
        return listener;
    }
}
