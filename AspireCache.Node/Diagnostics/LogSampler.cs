namespace AspireCache.Node.Diagnostics;

/// <summary>
/// Decides which occurrences of a repeated log line are written: the first of each key at once, later
/// ones at most once per <see cref="Interval"/> per key, each written one carrying how many were not
/// written since the previous one. Keys are a small fixed set (refusal reasons; DotNext event and peer):
/// past <see cref="MaxKeys"/> a new key is not remembered, so its lines are written every time.
/// </summary>
public sealed class LogSampler(TimeProvider clock, TimeSpan interval)
{
    /// <summary>At most this many keys are tracked.</summary>
    public const int MaxKeys = 256;

    private readonly Dictionary<string, (long NextTicks, long Suppressed)> _keys = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();
    private readonly long _intervalTicks = (long)(interval.TotalSeconds * clock.TimestampFrequency);

    public TimeSpan Interval => interval;

    /// <summary>Whether to write this occurrence now; if so, <paramref name="suppressed"/> is how many were not written since the last one.</summary>
    public bool ShouldLog(string key, out long suppressed)
    {
        var now = clock.GetTimestamp();
        lock (_gate)
        {
            _keys.TryGetValue(key, out var state);
            if (state.NextTicks != 0 && now < state.NextTicks)
            {
                _keys[key] = state with { Suppressed = state.Suppressed + 1 };
                suppressed = 0;
                return false;
            }

            suppressed = state.Suppressed;
            if (state.NextTicks != 0 || _keys.Count < MaxKeys)
            {
                _keys[key] = (now + _intervalTicks, 0);
            }

            return true;
        }
    }
}
