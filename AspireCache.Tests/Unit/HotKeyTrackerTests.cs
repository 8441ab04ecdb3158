using AspireCache.Node.HotKeys;
using AspireCache.Node.Diagnostics;
using Xunit.Abstractions;

namespace AspireCache.Tests.Unit;

public sealed class HotKeyTrackerTests(ITestOutputHelper output)
{
    [Fact]
    public void A_single_very_hot_key_is_at_the_top()
    {
        var tracker = new HotKeyTracker(clock: new ManualClock());
        var random = new Random(1);
        for (var i = 0; i < 20_000; i++)
        {
            tracker.Record(i % 4 == 0 ? "hot" : "cold:" + random.Next(50_000));
        }

        var top = tracker.Top(5);
        Assert.Equal("hot", top[0].Key);
        Assert.True(top[0].EstimatedCount >= 5_000, $"estimate {top[0].EstimatedCount}");
        Assert.True(tracker.Estimate("hot") >= 5_000);
        Assert.All(top.Skip(1), k => Assert.True(k.EstimatedCount < top[0].EstimatedCount));
    }

    [Fact]
    public void Zipf_true_top_ten_are_tracked_and_top_three_ranked_in_order()
    {
        var (tracker, trueCounts) = RecordZipf(samples: 200_000, seed: 42);
        var trueTop = trueCounts.OrderByDescending(kv => kv.Value).ThenBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => kv.Key).ToArray();

        var top = tracker.Top(32);
        Assert.Equal(32, top.Count);
        var tracked = top.Select(k => k.Key).ToHashSet();
        Assert.All(trueTop.Take(10), key => Assert.Contains(key, tracked));
        Assert.Equal(trueTop.Take(3), top.Take(3).Select(k => k.Key));
        for (var i = 1; i < top.Count; i++)
        {
            Assert.True(top[i - 1].EstimatedCount >= top[i].EstimatedCount, "Top must be sorted descending");
        }

        output.WriteLine("true top-5: " + string.Join(", ", trueTop.Take(5).Select(k => $"{k}={trueCounts[k]}")));
        output.WriteLine("tracked top-5: " + string.Join(", ", top.Take(5).Select(k => $"{k.Key}={k.EstimatedCount}")));
    }

    [Fact]
    public void Estimates_never_undercount_before_any_decay()
    {
        var (tracker, trueCounts) = RecordZipf(samples: 200_000, seed: 7);

        long maxOver = 0;
        foreach (var (key, count) in trueCounts)
        {
            var estimate = tracker.Estimate(key);
            Assert.True(estimate >= count, $"{key}: estimate {estimate} < true {count}");
            maxOver = Math.Max(maxOver, estimate - count);
        }

        var absent = tracker.Estimate("never-recorded");
        Assert.InRange(absent, 0, maxOver); // only collision noise
        Assert.Equal(absent, tracker.Estimate("never-recorded")); // Estimate does not count
        output.WriteLine($"{trueCounts.Count} distinct keys, max overestimate {maxOver} (e/width * N = {Math.E / tracker.Width * 200_000:F0})");
    }

    [Fact]
    public void Decay_halves_estimates_lazily_and_on_demand()
    {
        var clock = new ManualClock();
        var tracker = new HotKeyTracker(halfLife: TimeSpan.FromSeconds(10), clock: clock);
        for (var i = 0; i < 1_000; i++)
        {
            tracker.Record("a");
        }

        for (var i = 0; i < 200; i++)
        {
            tracker.Record("b");
        }

        var a0 = tracker.Estimate("a");
        var b0 = tracker.Estimate("b");
        Assert.True(a0 >= 1_000 && b0 >= 200);

        clock.Advance(TimeSpan.FromSeconds(9.9));
        Assert.Equal(a0, tracker.Estimate("a"));

        clock.Advance(TimeSpan.FromSeconds(0.1)); // one half-life elapsed: lazy decay on the next call
        Assert.Equal(a0 / 2, tracker.Estimate("a"));
        Assert.Equal(b0 / 2, tracker.Estimate("b"));
        Assert.Equal([new HotKey("a", a0 / 2), new HotKey("b", b0 / 2)], tracker.Top(10));

        clock.Advance(TimeSpan.FromSeconds(25)); // two more periods elapsed (t = 35 s): halved twice, once
        Assert.Equal(a0 / 8, tracker.Estimate("a"));
        Assert.Equal(a0 / 8, tracker.Top(1)[0].EstimatedCount);

        tracker.Decay(); // explicit: halves now and restarts the period at t = 35 s
        Assert.Equal(a0 / 16, tracker.Estimate("a"));
        clock.Advance(TimeSpan.FromSeconds(9)); // t = 44 s: the old schedule (40 s) no longer applies
        Assert.Equal(a0 / 16, tracker.Estimate("a"));
        clock.Advance(TimeSpan.FromSeconds(1)); // t = 45 s
        Assert.Equal(a0 / 32, tracker.Estimate("a"));

        clock.Advance(TimeSpan.FromHours(1)); // everything decays to zero and drops out of Top
        Assert.Equal(0, tracker.Estimate("a"));
        Assert.Empty(tracker.Top(10));
    }

    [Fact]
    public void New_hot_keys_replace_old_ones_after_the_hot_set_shifts()
    {
        var clock = new ManualClock();
        var tracker = new HotKeyTracker(topK: 16, halfLife: TimeSpan.FromSeconds(1), clock: clock);
        var random = new Random(3);

        void Phase(string prefix, int seconds)
        {
            for (var tick = 0; tick < seconds * 10; tick++)
            {
                for (var i = 0; i < 1_000; i++)
                {
                    // 5 hot keys share half the traffic; the rest is spread over 100,000 cold keys.
                    tracker.Record(i % 2 == 0 ? $"{prefix}:{random.Next(5)}" : $"cold:{random.Next(100_000)}");
                }

                clock.Advance(TimeSpan.FromMilliseconds(100));
            }
        }

        Phase("old", 10);
        Assert.Equal(["old:0", "old:1", "old:2", "old:3", "old:4"], tracker.Top(5).Select(k => k.Key).Order(StringComparer.Ordinal));

        Phase("new", 10);
        var top = tracker.Top(16);
        Assert.Equal(["new:0", "new:1", "new:2", "new:3", "new:4"], top.Take(5).Select(k => k.Key).Order(StringComparer.Ordinal));
        var coldestNew = top.Take(5).Min(k => k.EstimatedCount);
        for (var i = 0; i < 5; i++)
        {
            Assert.True(tracker.Estimate($"old:{i}") * 100 < coldestNew, $"old:{i} should have decayed away");
        }

        output.WriteLine("after shift: " + string.Join(", ", top.Take(8).Select(k => $"{k.Key}={k.EstimatedCount}")));
    }

    [Fact]
    public void Concurrent_records_from_eight_threads_keep_the_top_key()
    {
        const int Threads = 8;
        const int PerThread = 100_000;
        var tracker = new HotKeyTracker(clock: new ManualClock());
        var keys = Enumerable.Range(0, 20_000).Select(i => "k:" + i).ToArray();
        using var start = new Barrier(Threads + 1);
        var failures = new List<Exception>();
        var done = 0;

        var writers = Enumerable.Range(0, Threads).Select(t => new Thread(() =>
        {
            try
            {
                var random = new Random(t);
                start.SignalAndWait();
                for (var i = 0; i < PerThread; i++)
                {
                    tracker.Record(i % 4 == 0 ? "hot" : keys[random.Next(keys.Length)]);
                }
            }
            catch (Exception ex)
            {
                lock (failures)
                {
                    failures.Add(ex);
                }
            }
            finally
            {
                Interlocked.Increment(ref done);
            }
        })).ToList();
        writers.ForEach(w => w.Start());

        start.SignalAndWait();
        var reads = 0;
        while (Volatile.Read(ref done) < Threads)
        {
            var top = tracker.Top(10); // readers take the lock the writers only try
            Assert.True(top.Count <= 10);
            tracker.Estimate("hot");
            reads++;
        }

        writers.ForEach(w => w.Join());
        Assert.Empty(failures);

        // Admission only tries the table's lock: with this reader holding it in a tight loop, on a
        // loaded box every try of "hot" may have found it taken. Its next read admits it (the contract).
        tracker.Record("hot");
        Assert.Equal("hot", Assert.Single(tracker.Top(1)).Key);
        Assert.True(tracker.Estimate("hot") >= Threads * PerThread / 4, "atomic increments: no lost counts without decay");
        output.WriteLine($"{reads} concurrent Top/Estimate calls; hot estimate {tracker.Estimate("hot")} (true {Threads * PerThread / 4})");

        // Decay racing with writers must not throw either.
        var decaying = new HotKeyTracker(halfLife: TimeSpan.FromMilliseconds(1));
        Parallel.For(0, Threads, t =>
        {
            for (var i = 0; i < 50_000; i++)
            {
                decaying.Record(i % 2 == 0 ? "hot" : keys[(i * 31 + t) % keys.Length]);
            }
        });
        decaying.Decay();
        Assert.True(decaying.Top(32).Count <= 32);
    }

    [Fact]
    public void Validates_arguments_and_bounds_its_output()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new HotKeyTracker(width: 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => new HotKeyTracker(depth: 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => new HotKeyTracker(topK: 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => new HotKeyTracker(halfLife: TimeSpan.Zero));
        Assert.Throws<ArgumentNullException>(() => new HotKeyTracker().Record(null!));

        var tracker = new HotKeyTracker(width: 1000, depth: 3, topK: 4, halfLife: Timeout.InfiniteTimeSpan);
        Assert.Equal(1024, tracker.Width);
        Assert.Equal(3, tracker.Depth);
        Assert.Equal(4, tracker.Capacity);
        Assert.Empty(tracker.Top(10));
        for (var i = 0; i < 10; i++)
        {
            for (var j = 0; j <= i; j++)
            {
                tracker.Record("key" + i);
            }
        }

        Assert.Empty(tracker.Top(0));
        Assert.Equal(["key9", "key8", "key7", "key6"], tracker.Top(100).Select(k => k.Key));
        Assert.Equal(["key9", "key8"], tracker.Top(2).Select(k => k.Key));
    }

    [Fact]
    public void Record_does_not_allocate()
    {
        var keys = Workloads.ZipfKeys(10_000, 1.1, 100_000, seed: 5);
        var tracker = new HotKeyTracker();
        foreach (var key in keys)
        {
            tracker.Record(key); // warm-up: fills the table, JITs every path
        }

        var before = GC.GetAllocatedBytesForCurrentThread();
        foreach (var key in keys)
        {
            tracker.Record(key);
        }

        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.True(allocated < 1_000, $"{allocated} bytes allocated by {keys.Length} records");
    }

    private static (HotKeyTracker Tracker, Dictionary<string, long> TrueCounts) RecordZipf(int samples, int seed)
    {
        var tracker = new HotKeyTracker(clock: new ManualClock()); // the clock never moves: no decay
        var trueCounts = new Dictionary<string, long>();
        foreach (var key in Workloads.ZipfKeys(10_000, 1.1, samples, seed))
        {
            tracker.Record(key);
            trueCounts[key] = trueCounts.GetValueOrDefault(key) + 1;
        }

        return (tracker, trueCounts);
    }

    /// <summary>A TimeProvider whose time only moves when told to (Microsoft.Extensions.TimeProvider.Testing is not referenced).</summary>
    private sealed class ManualClock : TimeProvider
    {
        private static readonly DateTimeOffset Epoch = new(2025, 1, 1, 0, 0, 0, TimeSpan.Zero);
        private long _ticks;

        public override long TimestampFrequency => TimeSpan.TicksPerSecond;

        public override long GetTimestamp() => Interlocked.Read(ref _ticks);

        public override DateTimeOffset GetUtcNow() => Epoch.AddTicks(GetTimestamp());

        public void Advance(TimeSpan by) => Interlocked.Add(ref _ticks, by.Ticks);
    }
}
