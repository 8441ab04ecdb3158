using AspireCache.Node.Diagnostics;
using AspireCache.Node.Raft.DotNextShims;

namespace AspireCache.Node.Raft;

/// <summary>
/// How long this node, as a follower, goes without hearing from its leader: the time between two
/// AppendEntries of the same term as they arrive (after node-to-node authentication, before the
/// shims and DotNext read them: a forged message never counts). A follower starts an election when this exceeds its election timeout, so the histogram
/// (<c>aspirecache.raft.leader_silence</c>) and the longest value (on <c>/cluster/status</c>) say how
/// close a loaded cluster comes to a spurious election: the margin that decides how short the
/// election timeouts can safely be.
/// </summary>
public sealed class LeaderSilenceMonitor
{
    private readonly Lock _lock = new();
    private readonly TimeProvider _clock;
    private readonly NodeTelemetry _telemetry;
    private long _term = -1;
    private long _lastArrival;
    private long _lastContact;
    private double _longestMs;

    public LeaderSilenceMonitor(TimeProvider clock, NodeTelemetry telemetry)
    {
        _clock = clock;
        _telemetry = telemetry;
        _lastContact = clock.GetTimestamp(); // a node that just started has heard nobody yet: it counts from now
    }

    /// <summary>
    /// How long since a leader last reached this node (an AppendEntries or InstallSnapshot arriving),
    /// or since the node started when none has. What <see cref="DotNextShims.PreVoteMiddleware"/> compares
    /// with the lower election timeout.
    /// </summary>
    public TimeSpan SinceLeaderContact => _clock.GetElapsedTime(Interlocked.Read(ref _lastContact));

    /// <summary>Records any message from a leader (AppendEntries or InstallSnapshot) arriving now.</summary>
    public void Contacted() => Interlocked.Exchange(ref _lastContact, _clock.GetTimestamp());

    /// <summary>The longest silence seen since the node started (ms), or null before two AppendEntries of one term.</summary>
    public double? LongestMs
    {
        get
        {
            lock (_lock)
            {
                return _longestMs > 0 ? Math.Round(_longestMs, 1) : null;
            }
        }
    }

    /// <summary>Records an AppendEntries of <paramref name="term"/> arriving now.</summary>
    public void Arrived(long term)
    {
        var now = _clock.GetTimestamp();
        Interlocked.Exchange(ref _lastContact, now);
        double gapMs;
        lock (_lock)
        {
            if (term != _term)
            {
                _term = term;
                _lastArrival = now;
                return;
            }

            gapMs = _clock.GetElapsedTime(_lastArrival, now).TotalMilliseconds;
            _lastArrival = now;
            if (gapMs > _longestMs)
            {
                _longestMs = gapMs;
            }
        }

        _telemetry.LeaderSilence(gapMs);
    }
}

/// <summary>Feeds <see cref="LeaderSilenceMonitor"/>; right after node-to-node authentication.</summary>
internal sealed class LeaderSilenceMiddleware(RequestDelegate next, LeaderSilenceMonitor monitor)
{
    public Task InvokeAsync(HttpContext context)
    {
        if (RaftWire.Is(context.Request, RaftWire.AppendEntries) && RaftWire.TryParse(context.Request.Headers[RaftWire.TermHeader], out var term))
        {
            monitor.Arrived(term);
        }
        else if (RaftWire.Is(context.Request, RaftWire.InstallSnapshot))
        {
            monitor.Contacted();
        }

        return next(context);
    }
}
