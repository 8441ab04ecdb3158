using System.Collections.Concurrent;

namespace AspireCache.Node.Eviction;

/// <summary>
/// When each key was last read or written, as seen by this node (local clock). The leader's copy
/// decides evictions; followers forward what they saw (<see cref="AccessReporter"/>), so recency
/// includes reads served anywhere. Approximate on purpose: it is a hint for choosing victims,
/// never part of the replicated state.
/// </summary>
public sealed class AccessTracker
{
    private readonly ConcurrentDictionary<string, long> _lastAccess = new(StringComparer.Ordinal);
    private ConcurrentDictionary<string, byte> _unreported = new(StringComparer.Ordinal);

    /// <summary>A read served here at <paramref name="atUnixMs"/> (the caller already has the time).</summary>
    public void Touch(string key, long atUnixMs)
    {
        _lastAccess[key] = atUnixMs;
        _unreported.TryAdd(key, 0);
    }

    public void Touch(IEnumerable<string> keys, long atUnixMs)
    {
        foreach (var key in keys)
        {
            _lastAccess[key] = atUnixMs;
        }
    }

    /// <summary>Last access, or <paramref name="fallback"/> (e.g. the last write) if never seen.</summary>
    public long LastAccess(string key, long fallback) => _lastAccess.TryGetValue(key, out var at) ? Math.Max(at, fallback) : fallback;

    public void Forget(string key) => _lastAccess.TryRemove(key, out _);

    /// <summary>Takes the keys accessed since the last call (at most <paramref name="max"/>).</summary>
    public List<string> TakeUnreported(int max)
    {
        var taken = Interlocked.Exchange(ref _unreported, new ConcurrentDictionary<string, byte>(StringComparer.Ordinal));
        var keys = new List<string>(Math.Min(taken.Count, max));
        foreach (var key in taken.Keys)
        {
            if (keys.Count == max)
            {
                break;
            }

            keys.Add(key);
        }

        return keys;
    }
}
