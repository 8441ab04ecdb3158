namespace AspireCache.Tests.Unit;

/// <summary>A monotonic clock that moves only when a test says so (1 tick = 100 ns).</summary>
internal sealed class SteppedClock : TimeProvider
{
    private long _ticks = 1;

    public override long TimestampFrequency => TimeSpan.TicksPerSecond;

    public override long GetTimestamp() => Interlocked.Read(ref _ticks);

    public void Advance(TimeSpan by) => Interlocked.Add(ref _ticks, by.Ticks);
}
