using AspireCache.Testing;
using AspireCache.Node.HotKeys;
using AspireCache.Node.Diagnostics;
using BenchmarkDotNet.Attributes;

namespace AspireCache.Benchmarks.Micro;

/// <summary>
/// Cost of <see cref="HotKeyTracker.Record"/> on the read path (single thread), per key
/// distribution, and of a <see cref="HotKeyTracker.Decay"/>. Was the assertion-free
/// <c>Micro_timing_of_Record</c> unit test. Default tracker: 4096 × 4 sketch, top 32, 10 s half-life.
/// </summary>
[MemoryDiagnoser]
public class HotKeyTrackerBenchmarks
{
    private const int Keys = 100_000;

    private HotKeyTracker _tracker = null!;
    private string[] _keys = null!;

    public enum Distribution
    {
        /// <summary>Zipf(1.1) over 10,000 keys: a realistic skew.</summary>
        Zipf,

        /// <summary>Every key distinct: nothing is ever admitted to the top-K.</summary>
        Distinct,

        /// <summary>One key only: the top-K hit path.</summary>
        OneHotKey,
    }

    [Params(Distribution.Zipf, Distribution.Distinct, Distribution.OneHotKey)]
    public Distribution Keyset { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _tracker = new HotKeyTracker();
        _keys = Keyset switch
        {
            Distribution.Zipf => Workloads.ZipfKeys(10_000, 1.1, Keys, seed: 11),
            Distribution.Distinct => Enumerable.Range(0, Keys).Select(i => "user:session:" + i).ToArray(),
            _ => Enumerable.Repeat("the-hot-key", Keys).ToArray(),
        };
    }

    /// <summary>Records <see cref="Keys"/> reads; the reported time is per read.</summary>
    [Benchmark(OperationsPerInvoke = Keys)]
    public void Record()
    {
        foreach (var key in _keys)
        {
            _tracker.Record(key);
        }
    }

    [Benchmark]
    public void Decay() => _tracker.Decay();
}
