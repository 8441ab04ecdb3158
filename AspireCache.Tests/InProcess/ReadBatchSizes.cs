using System.Collections.Concurrent;
using System.Diagnostics.Metrics;

namespace AspireCache.Tests.InProcess;

/// <summary>
/// Records the size of every read batch an in-process router sends (its
/// <c>aspirecache.router.read_batch.keys</c> histogram) while it is alive: evidence that GETs were coalesced.
/// </summary>
internal sealed class ReadBatchSizes : IDisposable
{
    private readonly ConcurrentQueue<int> _sizes = new();
    private readonly MeterListener _listener = new();

    public ReadBatchSizes()
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == "AspireCache.Router" && instrument.Name == "aspirecache.router.read_batch.keys")
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<int>((_, keys, _, _) => _sizes.Enqueue(keys));
        _listener.Start();
    }

    /// <summary>The sizes recorded so far, in order.</summary>
    public int[] Snapshot() => [.. _sizes];

    public void Dispose() => _listener.Dispose();
}
