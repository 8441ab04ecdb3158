using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace AspireCache.Node.HotKeys;

/// <summary>A key and its estimated (decayed) access count, as reported by <see cref="HotKeyTracker.Top"/>.</summary>
public readonly record struct HotKey(string Key, long EstimatedCount);

/// <summary>
/// Finds the hottest keys read on this node with bounded memory: a decaying count-min sketch
/// (<c>depth</c> rows of <c>width</c> counters) estimates every key's recent access count, and a
/// small fixed table keeps the <c>topK</c> heaviest keys seen.
/// </summary>
/// <remarks>
/// <para><b>Hot path.</b> <see cref="Record"/> hashes the key once (a seeded, xxHash64-style hash of its
/// UTF-16 code units), derives one index per row by multiply-shift hashing of that 64-bit value with a
/// per-row random odd multiplier, and <see cref="Interlocked.Increment(ref long)"/>s one counter per row;
/// the estimate is the minimum of the incremented values. It allocates nothing and takes no lock unless the key is heavier than the lightest
/// top-K entry and not already in the table (a vectorized scan of K stored hashes). Even then it only
/// <em>tries</em> the lock: if another thread holds it, the update is skipped and the key gets another
/// chance on its next read. So <see cref="Record"/> never blocks behind another caller, except the one
/// caller per half-life that performs the automatic decay.</para>
/// <para><b>Accuracy.</b> Until the first decay every estimate is at least the true count (count-min
/// property; the increments are atomic) and exceeds it by at most about <c>e/width</c> of all records with
/// probability <c>1 - e^-depth</c>. Top-K membership is checked by 64-bit hash only, so a key whose hash
/// collides with a member's (probability ~K/2^64) is treated as a member. The estimates kept in the
/// table are refreshed from the sketch whenever the lock is taken (admission, <see cref="Top"/>), so an
/// admission evicts the member with the lowest current estimate, and only if the newcomer's is higher.</para>
/// <para><b>Decay.</b> Every <c>halfLife</c> all counters (sketch and table) are halved, so an estimate
/// is roughly "accesses in the last 1.44 half-lives" and keys that cool down drop out. Decay happens
/// lazily: <see cref="Estimate"/>, <see cref="Top"/> and <see cref="Record"/> (only on every 64th call on a
/// thread, counted across all trackers, to keep the clock read off the common path) check whether the period
/// has elapsed; one thread wins a compare-and-swap on the next-decay timestamp and halves once per elapsed
/// period (so records made between a period's end and that check are halved too: a small, bounded skew).
/// <see cref="Decay"/> halves immediately and restarts the period, so a timer calling it every half-life
/// replaces the automatic schedule. The halving pass is not atomic with respect to concurrent increments (a few increments racing
/// with it may be lost), which only matters after a decay, when estimates are approximate anyway.</para>
/// <para>The rows are deliberately not derived with the two-hash trick (<c>h1 + i*h2 mod width</c>): with it
/// two keys that agree on <c>(h1, h2) mod width</c> collide in every row (probability 1/width², not
/// 1/width^depth), and with ~10^5 distinct keys a cold key then regularly shows up with a hot key's
/// count.</para>
/// <para>Memory is fixed: <c>depth * width * 8</c> bytes for the sketch (128 KiB by default; width is
/// rounded up to a power of two, at least 16) plus the K-entry table.</para>
/// </remarks>
public sealed class HotKeyTracker
{
    private const int DecayCheckInterval = 64;

    private const ulong Prime1 = 0x9E3779B185EBCA87UL;
    private const ulong Prime2 = 0xC2B2AE3D27D4EB4FUL;
    private const ulong Prime3 = 0x165667B19E3779F9UL;
    private const ulong Prime4 = 0x85EBCA77C2B2AE63UL;
    private const ulong Prime5 = 0x27D4EB2F165667C5UL;

    [ThreadStatic]
    private static int t_decayCheckCountdown;

    private readonly long[] _sketch; // depth rows of width counters, row-major
    private readonly int _width;
    private readonly int _depth;
    private readonly int _shift; // 64 - log2(width): multiply-shift keeps the product's top bits
    private readonly ulong[] _rowMultipliers;
    private readonly ulong _seed;
    private readonly TimeProvider _clock;
    private readonly long _halfLifeTicks; // in _clock timestamp units; long.MaxValue = no automatic decay

    // Top-K table. Written only under _sync; _topHashes and _topMin are also read without it.
    private readonly Lock _sync = new();
    private readonly string?[] _topKeys;
    private readonly long[] _topHashes; // 0 = empty slot (Hash never returns 0)
    private readonly long[] _topCounts;
    private int _topCount;
    private long _topMin; // smallest estimate in a full table, 0 while the table has free slots

    private long _nextDecay;

    public HotKeyTracker(int width = 4096, int depth = 4, int topK = 32, TimeSpan? halfLife = null, TimeProvider? clock = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(width, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(width, 1 << 20);
        ArgumentOutOfRangeException.ThrowIfLessThan(depth, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(depth, 16);
        ArgumentOutOfRangeException.ThrowIfLessThan(topK, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(topK, 1024);
        var life = halfLife ?? TimeSpan.FromSeconds(10);
        if (life <= TimeSpan.Zero && life != Timeout.InfiniteTimeSpan)
        {
            throw new ArgumentOutOfRangeException(nameof(halfLife), life, "The half-life must be positive, or Timeout.InfiniteTimeSpan to disable automatic decay.");
        }

        _width = (int)BitOperations.RoundUpToPowerOf2((uint)Math.Max(width, 16));
        _depth = depth;
        _shift = 64 - BitOperations.Log2((uint)_width);
        _sketch = new long[_width * depth];
        _topKeys = new string?[topK];
        _topHashes = new long[topK];
        _topCounts = new long[topK];
        var seeds = new ulong[depth + 1];
        Random.Shared.NextBytes(MemoryMarshal.AsBytes(seeds.AsSpan()));
        _seed = seeds[depth];
        _rowMultipliers = seeds[..depth];
        for (var row = 0; row < depth; row++)
        {
            _rowMultipliers[row] |= 1;
        }

        _clock = clock ?? TimeProvider.System;
        HalfLife = life;

        var ticks = life == Timeout.InfiniteTimeSpan ? double.PositiveInfinity : life.TotalSeconds * _clock.TimestampFrequency;
        _halfLifeTicks = ticks >= long.MaxValue / 4 ? long.MaxValue : Math.Max(1, (long)ticks);
        _nextDecay = AddSaturating(_clock.GetTimestamp(), _halfLifeTicks);
    }

    /// <summary>Counters per sketch row (the requested width rounded up to a power of two, at least 16).</summary>
    public int Width => _width;

    /// <summary>Sketch rows (independent hash functions).</summary>
    public int Depth => _depth;

    /// <summary>How many keys the top-K table holds.</summary>
    public int Capacity => _topKeys.Length;

    /// <summary>The period after which all counts are halved; <see cref="Timeout.InfiniteTimeSpan"/> if only <see cref="Decay"/> does it.</summary>
    public TimeSpan HalfLife { get; }

    /// <summary>Counts one access to <paramref name="key"/>. Thread-safe, lock-free and allocation-free on the common path.</summary>
    public void Record(string key) => Record(key, 1);

    /// <summary>Counts <paramref name="count"/> accesses to <paramref name="key"/> at once (a near cache's report).</summary>
    public void Record(string key, long count)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(count);

        if (--t_decayCheckCountdown < 0)
        {
            t_decayCheckCountdown = DecayCheckInterval - 1;
            MaybeDecay();
        }

        var hash = Hash(key);
        var sketch = _sketch;
        var multipliers = _rowMultipliers;
        var estimate = long.MaxValue;
        for (var row = 0; row < multipliers.Length; row++)
        {
            var index = (row * _width) + (int)((hash * multipliers[row]) >> _shift);
            var value = Interlocked.Add(ref sketch[index], count);
            if (value < estimate)
            {
                estimate = value;
            }
        }

        if (estimate <= Volatile.Read(ref _topMin))
        {
            return; // not heavier than the lightest top-K entry: the common case for cold keys
        }

        if (_topHashes.AsSpan().IndexOf((long)hash) >= 0)
        {
            return; // already in the table; its count there is refreshed from the sketch when needed
        }

        if (!_sync.TryEnter())
        {
            return; // someone else is updating the table; this key will try again on its next read
        }

        try
        {
            Admit(key, (long)hash);
        }
        finally
        {
            _sync.Exit();
        }
    }

    /// <summary>The estimated (decayed) access count of <paramref name="key"/>; never below the true count before the first decay.</summary>
    public long Estimate(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        MaybeDecay();
        return EstimateHash((long)Hash(key));
    }

    /// <summary>The up to <paramref name="count"/> heaviest tracked keys, heaviest first (keys whose count decayed to zero are omitted).</summary>
    public IReadOnlyList<HotKey> Top(int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        MaybeDecay();
        if (count == 0)
        {
            return [];
        }

        HotKey[] result;
        lock (_sync)
        {
            RefreshTopCounts();
            var n = 0;
            result = new HotKey[_topCount];
            for (var i = 0; i < _topKeys.Length; i++)
            {
                if (_topKeys[i] is { } key && _topCounts[i] > 0)
                {
                    result[n++] = new HotKey(key, _topCounts[i]);
                }
            }

            Array.Resize(ref result, n);
        }

        Array.Sort(result, static (a, b) => a.EstimatedCount != b.EstimatedCount
            ? b.EstimatedCount.CompareTo(a.EstimatedCount)
            : string.CompareOrdinal(a.Key, b.Key));
        if (result.Length > count)
        {
            Array.Resize(ref result, count);
        }

        return result;
    }

    /// <summary>Halves every count now and restarts the automatic half-life period (for callers that drive decay from a timer).</summary>
    public void Decay()
    {
        lock (_sync)
        {
            Halve(1);
            Volatile.Write(ref _nextDecay, AddSaturating(_clock.GetTimestamp(), _halfLifeTicks));
        }
    }

    private void MaybeDecay()
    {
        var due = Volatile.Read(ref _nextDecay);
        if (due == long.MaxValue)
        {
            return;
        }

        var now = _clock.GetTimestamp();
        if (now < due)
        {
            return;
        }

        var periods = ((now - due) / _halfLifeTicks) + 1;
        var next = AddSaturating(due, periods <= long.MaxValue / _halfLifeTicks ? periods * _halfLifeTicks : long.MaxValue);
        if (Interlocked.CompareExchange(ref _nextDecay, next, due) != due)
        {
            return; // another thread is decaying this period
        }

        lock (_sync)
        {
            Halve((int)Math.Min(periods, 63));
        }
    }

    // Caller holds _sync.
    private void Halve(int shift)
    {
        var sketch = _sketch;
        for (var i = 0; i < sketch.Length; i++)
        {
            // Not atomic with concurrent Interlocked.Increment: an increment landing between the read and
            // the write is lost. Accepted (see remarks) to keep this a plain loop over the counters.
            var value = sketch[i];
            if (value != 0)
            {
                sketch[i] = value >> shift;
            }
        }

        for (var i = 0; i < _topKeys.Length; i++)
        {
            if (_topKeys[i] is not null)
            {
                _topCounts[i] >>= shift;
            }
        }

        PublishMin();
    }

    // Caller holds _sync.
    private void Admit(string key, long hash)
    {
        if (Array.IndexOf(_topHashes, hash) >= 0)
        {
            return; // admitted by another thread since the lock-free check
        }

        var estimate = EstimateHash(hash);
        int slot;
        if (_topCount < _topKeys.Length)
        {
            slot = Array.IndexOf(_topHashes, 0L);
            _topCount++;
        }
        else
        {
            RefreshTopCounts();
            slot = 0;
            for (var i = 1; i < _topCounts.Length; i++)
            {
                if (_topCounts[i] < _topCounts[slot])
                {
                    slot = i;
                }
            }

            if (estimate <= _topCounts[slot])
            {
                PublishMin(); // the refreshed minimum is higher; fewer futile attempts
                return;
            }
        }

        _topKeys[slot] = key;
        _topCounts[slot] = estimate;
        Volatile.Write(ref _topHashes[slot], hash);
        PublishMin();
    }

    // Caller holds _sync.
    private void RefreshTopCounts()
    {
        for (var i = 0; i < _topKeys.Length; i++)
        {
            if (_topKeys[i] is not null)
            {
                _topCounts[i] = EstimateHash(_topHashes[i]);
            }
        }
    }

    // Caller holds _sync.
    private void PublishMin()
    {
        var min = 0L;
        if (_topCount == _topKeys.Length)
        {
            min = long.MaxValue;
            foreach (var count in _topCounts)
            {
                min = Math.Min(min, count);
            }
        }

        Volatile.Write(ref _topMin, min);
    }

    private long EstimateHash(long hash)
    {
        var multipliers = _rowMultipliers;
        var estimate = long.MaxValue;
        for (var row = 0; row < multipliers.Length; row++)
        {
            var index = (row * _width) + (int)(((ulong)hash * multipliers[row]) >> _shift);
            estimate = Math.Min(estimate, Volatile.Read(ref _sketch[index]));
        }

        return estimate;
    }

    private static long AddSaturating(long a, long b) => a > long.MaxValue - b ? long.MaxValue : a + b;

    // Seeded xxHash64-style hash of the key's UTF-16 code units (single lane; never returns 0).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ulong Hash(string key)
    {
        var bytes = MemoryMarshal.AsBytes(key.AsSpan());
        var h = _seed + Prime5 + (ulong)bytes.Length;
        var i = 0;
        for (; i + 8 <= bytes.Length; i += 8)
        {
            var k = MemoryMarshal.Read<ulong>(bytes[i..]);
            k = BitOperations.RotateLeft(k * Prime2, 31) * Prime1;
            h = (BitOperations.RotateLeft(h ^ k, 27) * Prime1) + Prime4;
        }

        if (i + 4 <= bytes.Length)
        {
            h ^= MemoryMarshal.Read<uint>(bytes[i..]) * Prime1;
            h = (BitOperations.RotateLeft(h, 23) * Prime2) + Prime3;
            i += 4;
        }

        if (i < bytes.Length) // one UTF-16 code unit left
        {
            h ^= MemoryMarshal.Read<ushort>(bytes[i..]) * Prime5;
            h = BitOperations.RotateLeft(h, 11) * Prime1;
        }

        h ^= h >> 33;
        h *= Prime2;
        h ^= h >> 29;
        h *= Prime3;
        h ^= h >> 32;
        return h == 0 ? Prime1 : h;
    }
}
