namespace AspireCache.Node.Watch;

/// <summary>
/// The node's bounded memory of recent changes, as whole log entries (<see cref="EventChunk"/>),
/// oldest first: by event count and by bytes. What falls off the front moves
/// <see cref="OldestAcceptedRevision"/> up: a resume from below it would have a gap, and is refused.
/// Not thread-safe: <see cref="WatchHub"/> guards it.
/// </summary>
public sealed class EventHistory(int maxEvents, long maxBytes)
{
    private EventChunk[] _ring = new EventChunk[64];
    private int _head;
    private int _count;

    public int Chunks => _count;

    public long Events { get; private set; }

    public long Bytes { get; private set; }

    /// <summary>The smallest <c>afterRevision</c> that can be served without a gap.</summary>
    public long OldestAcceptedRevision { get; private set; }

    /// <summary>The revision of the newest event kept (or where the history was reset).</summary>
    public long HeadRevision { get; private set; }

    /// <summary>Sequence number of the newest chunk (0 before any).</summary>
    public long HeadSequence { get; private set; }

    public EventChunk this[int i] => _ring[(_head + i) % _ring.Length];

    /// <summary>Starts over at <paramref name="revision"/>: nothing before it can be resumed from here.</summary>
    public void Reset(long revision)
    {
        Array.Clear(_ring);
        _head = 0;
        _count = 0;
        Events = 0;
        Bytes = 0;
        OldestAcceptedRevision = revision;
        HeadRevision = revision;
    }

    public EventChunk Append(WatchEvent[] events)
    {
        var chunk = new EventChunk(++HeadSequence, events);
        if (_count == _ring.Length)
        {
            var grown = new EventChunk[_ring.Length * 2];
            for (var i = 0; i < _count; i++)
            {
                grown[i] = this[i];
            }

            _ring = grown;
            _head = 0;
        }

        _ring[(_head + _count) % _ring.Length] = chunk;
        _count++;
        Events += events.Length;
        Bytes += chunk.Bytes;
        HeadRevision = chunk.LastRevision;

        // Keep the newest chunk even if it alone is over the bounds: a stream must be able to get it.
        while (_count > 1 && (Events > maxEvents || Bytes > maxBytes))
        {
            var oldest = _ring[_head];
            _ring[_head] = null!;
            _head = (_head + 1) % _ring.Length;
            _count--;
            Events -= oldest.Events.Length;
            Bytes -= oldest.Bytes;
            OldestAcceptedRevision = oldest.LastRevision;
        }

        return chunk;
    }

    /// <summary>An entry changed the revision without changing a key (a batch deleting absent keys).</summary>
    public void AdvanceTo(long revision) => HeadRevision = Math.Max(HeadRevision, revision);

    /// <summary>Index of the first chunk with an event above <paramref name="revision"/> (<see cref="Chunks"/> if none).</summary>
    public int FirstAbove(long revision)
    {
        int lo = 0, hi = _count;
        while (lo < hi)
        {
            var mid = (lo + hi) >>> 1;
            if (this[mid].LastRevision > revision)
            {
                hi = mid;
            }
            else
            {
                lo = mid + 1;
            }
        }

        return lo;
    }

    /// <summary>Index of the chunk with <paramref name="sequence"/>, or -1 when it is no longer (or not yet) kept.</summary>
    public int IndexOfSequence(long sequence)
    {
        if (_count == 0)
        {
            return -1;
        }

        var index = sequence - this[0].Sequence;
        return index >= 0 && index < _count ? (int)index : -1;
    }
}
