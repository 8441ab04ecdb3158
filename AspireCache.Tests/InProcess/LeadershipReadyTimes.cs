using System.Collections.Concurrent;
using System.Diagnostics.Metrics;

namespace AspireCache.Tests.InProcess;

/// <summary>
/// Records <c>aspirecache.raft.leadership_ready</c> (ms from a leader's election to its first commit) of the
/// nodes of the clusters given to <see cref="Own"/> only: other collections' clusters elect meanwhile.
/// </summary>
internal sealed class LeadershipReadyTimes : IDisposable
{
    private readonly MeterListener _listener = new();
    private readonly ConcurrentQueue<double> _ready = new();
    private readonly ConcurrentDictionary<object, bool> _scopes = new(ReferenceEqualityComparer.Instance);

    public LeadershipReadyTimes()
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Name == "aspirecache.raft.leadership_ready")
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<double>((instrument, ms, _, _) =>
        {
            if (instrument.Meter.Scope is { } scope && _scopes.ContainsKey(scope))
            {
                _ready.Enqueue(ms);
            }
        });
        _listener.Start();
    }

    /// <summary>
    /// Counts the running nodes of <paramref name="cluster"/> but <paramref name="except"/> (the leader about to
    /// be stopped or hung, whose own late "ready" must not pass for its successor's) from now on, and forgets
    /// what was recorded so far.
    /// </summary>
    public void Own(InProcessCluster cluster, int except)
    {
        for (var node = 0; node < InProcessCluster.Ids.Length; node++)
        {
            if (node != except && cluster.IsRunning(node))
            {
                _scopes[cluster.Service<IMeterFactory>(node)] = true;
            }
        }

        _ready.Clear();
    }

    /// <summary>The next recorded time, polled until <paramref name="timeout"/>; fails the test if none comes.</summary>
    public async Task<double> NextAsync(TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        double ms;
        while (!_ready.TryDequeue(out ms))
        {
            Assert.True(DateTime.UtcNow < deadline, "the new leader did not report being ready");
            await Task.Delay(10);
        }

        return ms;
    }

    public void Dispose() => _listener.Dispose();
}
