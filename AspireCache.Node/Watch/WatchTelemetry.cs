using System.Diagnostics.Metrics;

namespace AspireCache.Node.Watch;

/// <summary>The watch component's Meter (<c>AspireCache.Watch</c>): streams, events, progress, slow consumers, lag.</summary>
public sealed class WatchTelemetry : IDisposable
{
    public const string Name = "AspireCache.Watch";

    private readonly Meter _meter;
    private readonly Counter<long> _eventsSent;
    private readonly Counter<long> _progressSent;
    private readonly Counter<long> _progressRequests;
    private readonly Counter<long> _closed;
    private readonly Counter<long> _refused;
    private readonly Histogram<double> _lag;
    private long _active;

    public WatchTelemetry(IMeterFactory meterFactory)
    {
        _meter = meterFactory.Create(Name);
        _meter.CreateObservableUpDownCounter("aspirecache.watch.active", () => Volatile.Read(ref _active), "{stream}", "Open watch streams on this node.");
        _eventsSent = _meter.CreateCounter<long>("aspirecache.watch.events_sent", "{event}", "Change events written to watch streams.");
        _progressSent = _meter.CreateCounter<long>("aspirecache.watch.progress_sent", "{event}", "Progress events written to watch streams (periodic and on demand).");
        _progressRequests = _meter.CreateCounter<long>("aspirecache.watch.progress_requests", "{request}", "On-demand progress requests (POST /cache/watch/{id}/progress).");
        _closed = _meter.CreateCounter<long>("aspirecache.watch.closed", "{stream}", "Streams the node closed, by reason (slow-consumer, snapshot-installed, shutting-down).");
        _refused = _meter.CreateCounter<long>("aspirecache.watch.refused", "{request}", "Watch requests refused, by reason (gone, future, full, credential-limit, stopping).");
        _lag = _meter.CreateHistogram<double>("aspirecache.watch.lag", "ms", "From applying a change to writing it to a stream's socket.");
    }

    public void Observe(WatchHub hub)
    {
        _meter.CreateObservableGauge("aspirecache.watch.history.events", () => hub.HistorySize.Events, "{event}", "Events kept for resuming streams.");
        _meter.CreateObservableGauge("aspirecache.watch.history.bytes", () => hub.HistorySize.Bytes, "By", "Bytes kept for resuming streams.");
        _meter.CreateObservableGauge("aspirecache.watch.history.oldest_revision", () => hub.OldestAcceptedRevision, "{revision}", "The smallest afterRevision this node accepts.");
        _meter.CreateObservableGauge("aspirecache.watch.credentials", () => hub.Credentials, "{credential}", "Credentials with a watch stream open on this node (the per-credential table; bounded by the configured credentials).");
    }

    public void Opened() => Interlocked.Increment(ref _active);

    public void Unregistered() => Interlocked.Decrement(ref _active);

    public void Closed(CloseReason reason)
    {
        Interlocked.Decrement(ref _active);
        _closed.Add(1, new KeyValuePair<string, object?>("reason", CloseReasons.Name(reason)));
    }

    /// <summary>A watch refused because its credential holds <c>Watch:MaxWatchersPerCredential</c> streams here (429).</summary>
    public void RefusedForCredential() => Refused("credential-limit");

    public void Refused(string reason) => _refused.Add(1, new KeyValuePair<string, object?>("reason", reason));

    public void EventsSent(int count) => _eventsSent.Add(count);

    public void ProgressSent() => _progressSent.Add(1);

    public void ProgressRequested() => _progressRequests.Add(1);

    public void Lag(double milliseconds) => _lag.Record(milliseconds);

    public void Dispose() => _meter.Dispose();
}
