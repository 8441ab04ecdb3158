using System.Diagnostics.Metrics;

namespace AspireCache.Console.Diagnostics;

/// <summary>The console's meter, <c>AspireCache.Console</c> (exported by ServiceDefaults under the application's name).</summary>
public sealed class ConsoleTelemetry : IDisposable
{
    public const string Name = "AspireCache.Console";

    private readonly Meter _meter;
    private readonly Counter<long> _signIns;
    private readonly Counter<long> _sessionsEnded;
    private readonly Counter<long> _conflicts;
    private readonly Counter<long> _batches;

    public ConsoleTelemetry(IMeterFactory meters)
    {
        _meter = meters.Create(Name);
        _signIns = _meter.CreateCounter<long>("aspirecache.console.sign_ins", "{sign-in}", "Sign-in attempts by outcome (accepted, refused, unavailable).");
        _sessionsEnded = _meter.CreateCounter<long>("aspirecache.console.sessions.ended", "{session}", "Sessions ended by reason (signed-out, expired, evicted).");
        _conflicts = _meter.CreateCounter<long>("aspirecache.console.conflicts", "{conflict}", "Writes refused because the key changed since the operator read it (shown as a conflict, nothing overwritten).");
        _batches = _meter.CreateCounter<long>("aspirecache.console.batches", "{batch}", "Published batches by outcome (published, conflict, refused).");
    }

    /// <summary>Registers the gauge of open sessions (the session table calls it once).</summary>
    public void ObserveSessions(Func<int> active, int capacity)
    {
        _meter.CreateObservableGauge("aspirecache.console.sessions.active", active, "{session}", "Sessions in the console's server-side table.");
        _meter.CreateObservableGauge("aspirecache.console.sessions.capacity", () => capacity, "{session}", "Most sessions the table keeps (Console:Sessions:MaxSessions).");
    }

    public void SignIn(string outcome) => _signIns.Add(1, new KeyValuePair<string, object?>("outcome", outcome));

    public void SessionEnded(string reason) => _sessionsEnded.Add(1, new KeyValuePair<string, object?>("reason", reason));

    public void Conflict(string operation) => _conflicts.Add(1, new KeyValuePair<string, object?>("operation", operation));

    public void Batch(string outcome) => _batches.Add(1, new KeyValuePair<string, object?>("outcome", outcome));

    public void Dispose() => _meter.Dispose();
}
