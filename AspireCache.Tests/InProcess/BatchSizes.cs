using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;

namespace AspireCache.Tests.InProcess;

/// <summary>
/// Records the size of every read or write batch in-process routers send (their
/// <c>aspirecache.router.read_batch.keys</c> or <c>aspirecache.router.write_batch.writes</c>
/// histogram) while it is alive: evidence that requests were coalesced.
/// </summary>
internal sealed class BatchSizes : IDisposable
{
    private readonly ConcurrentQueue<int> _sizes = new();
    private readonly MeterListener _listener = new();

    /// <summary>Keys per read batch of <paramref name="router"/> only: other tests' routers run meanwhile.</summary>
    public static BatchSizes Reads(InProcessRouter router) =>
        new("aspirecache.router.read_batch.keys", router.Services.GetRequiredService<IMeterFactory>());

    /// <summary>Writes per write batch of <paramref name="router"/> only: other tests' routers run meanwhile.</summary>
    public static BatchSizes Writes(InProcessRouter router) =>
        new("aspirecache.router.write_batch.writes", router.Services.GetRequiredService<IMeterFactory>());

    private BatchSizes(string histogram, object? scope)
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == "AspireCache.Router" && instrument.Name == histogram && scope is not null && ReferenceEquals(instrument.Meter.Scope, scope))
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<int>((_, keys, _, _) => _sizes.Enqueue(keys));
        _listener.Start();
    }

    /// <summary>
    /// Runs <paramref name="round"/> (given its number) until a batch of several requests was recorded,
    /// at most <paramref name="maxRounds"/> times: concurrent requests share a batch only when some
    /// arrive while another batch is in flight, which a loaded machine may not give the first time.
    /// </summary>
    public async Task RepeatUntilCoalescedAsync(Func<int, Task> round, int maxRounds = 10)
    {
        for (var n = 0; n < maxRounds && !Snapshot().Any(size => size > 1); n++)
        {
            await round(n);
        }
    }

    /// <summary>The sizes recorded so far, in order.</summary>
    public int[] Snapshot() => [.. _sizes];

    public void Dispose() => _listener.Dispose();
}
