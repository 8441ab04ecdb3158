using System.Collections.Concurrent;

namespace AspireCache.Node.Raft.DotNextShims;

/// <summary>
/// Peers (host:port) marked for a while: a mark lasts <paramref name="window"/> from the last time it was
/// set, or until it is cleared. What the Raft client's handlers remember about a peer
/// (<see cref="PeerRefusals"/>, <see cref="UnresponsivePeers"/>); <see cref="Any"/> is the check every
/// outgoing Raft message makes: no lock, no string, one clock read once something was ever marked.
/// </summary>
public abstract class PeerMarks(TimeProvider clock, TimeSpan window)
{
    private readonly ConcurrentDictionary<string, long> _markedAt = new(StringComparer.OrdinalIgnoreCase);
    private long _lastMark = long.MinValue;

    /// <summary>Whether any peer may be marked (a mark was set within the window).</summary>
    public bool Any => Volatile.Read(ref _lastMark) is var last && last != long.MinValue && clock.GetElapsedTime(last) < window;

    /// <summary>How long a mark lasts, in milliseconds.</summary>
    public int WindowMs => (int)window.TotalMilliseconds;

    /// <summary>Marks <paramref name="peer"/> now (or again); true when it was not marked.</summary>
    public bool Mark(string peer)
    {
        var now = clock.GetTimestamp();
        Volatile.Write(ref _lastMark, now);
        var fresh = !IsMarked(peer);
        _markedAt[peer] = now;
        return fresh;
    }

    /// <summary>Clears <paramref name="peer"/>'s mark.</summary>
    public void Clear(string peer) => _markedAt.TryRemove(peer, out _);

    /// <summary>Whether <paramref name="peer"/> was marked within the window and not cleared since.</summary>
    public bool IsMarked(string peer)
    {
        if (!_markedAt.TryGetValue(peer, out var at))
        {
            return false;
        }

        if (clock.GetElapsedTime(at) < window)
        {
            return true;
        }

        _markedAt.TryRemove(new KeyValuePair<string, long>(peer, at)); // expired: the peer is treated as before
        return false;
    }
}
