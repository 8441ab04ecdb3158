using System.Diagnostics;
using HdrHistogram;

namespace AspireCache.Bench;

/// <summary>Chooses key indices: uniform, or Zipf (rank k has weight 1/(k+1)^s, key 0 the hottest).</summary>
internal sealed class KeyGenerator
{
    private readonly int _count;
    private readonly double[]? _cdf;

    public KeyGenerator(int count, KeyDistribution distribution, double s)
    {
        _count = count;
        if (distribution == KeyDistribution.Zipf)
        {
            _cdf = new double[count];
            var sum = 0.0;
            for (var i = 0; i < count; i++)
            {
                sum += 1.0 / Math.Pow(i + 1, s);
                _cdf[i] = sum;
            }

            for (var i = 0; i < count; i++)
            {
                _cdf[i] /= sum;
            }
        }
    }

    public int Next(Random random)
    {
        if (_cdf is null)
        {
            return random.Next(_count);
        }

        var index = Array.BinarySearch(_cdf, random.NextDouble());
        if (index < 0)
        {
            index = ~index;
        }

        return Math.Min(index, _count - 1);
    }
}

/// <summary>One worker's record of one operation type. Single-threaded; merged after the run.</summary>
internal sealed class OpRecorder
{
    /// <summary>Latencies are recorded in microseconds, 1 µs .. 5 min, 3 significant digits.</summary>
    public const long HighestMicros = 300_000_000;

    public LongHistogram Histogram { get; } = new(1, HighestMicros, 3);

    public long Hits;
    public long Misses;
    public long Errors;

    public void Record(long startTimestamp, long endTimestamp, OpStatus status)
    {
        var micros = (endTimestamp - startTimestamp) * 1_000_000 / Stopwatch.Frequency;
        Histogram.RecordValue(Math.Clamp(micros, 1, HighestMicros));
        if (status == OpStatus.Ok)
        {
            Hits++;
        }
        else
        {
            Misses++;
        }
    }
}

/// <summary>Everything one worker measured.</summary>
internal sealed class WorkerStats
{
    public OpRecorder Reads { get; } = new();

    public OpRecorder Writes { get; } = new();

    public Dictionary<string, long> Errors { get; } = new(StringComparer.Ordinal);

    /// <summary>Failover mode: completion timestamps of successful operations.</summary>
    public List<long> SuccessTimestamps { get; } = [];

    public void Error(string kind, OpRecorder op)
    {
        op.Errors++;
        Errors[kind] = Errors.TryGetValue(kind, out var n) ? n + 1 : 1;
    }
}

/// <summary>Counters read by the progress printer; shared by all workers.</summary>
internal sealed class LiveCounters
{
    public long Completed;
    public long Errors;
    public long Reads;
    public long Writes;
}

internal static class Stats
{
    /// <summary>The result of a run: per-operation and total statistics over the measured window.</summary>
    public static BenchResult ToResult(
        BenchOptions options,
        double elapsed,
        WorkerStats[] stats,
        double cpuPercent,
        double preloadSeconds = 0,
        long preloadErrors = 0,
        Func<OperationStats, OperationStats, FailoverReport>? failover = null,
        IReadOnlyDictionary<string, long>? clientRetries = null)
    {
        var reads = Build("read", stats.Select(s => s.Reads), elapsed);
        var writes = Build("write", stats.Select(s => s.Writes), elapsed);
        var total = Build("total", stats.Select(s => s.Reads).Concat(stats.Select(s => s.Writes)), elapsed);
        return new BenchResult
        {
            Options = options,
            ElapsedSeconds = elapsed,
            Operations = new Dictionary<string, OperationStats>(StringComparer.Ordinal) { ["read"] = reads, ["write"] = writes },
            Total = total,
            Errors = MergeErrors(stats),
            ClientCpuPercent = cpuPercent,
            PreloadSeconds = preloadSeconds,
            PreloadErrors = preloadErrors,
            Failover = failover?.Invoke(reads, writes),
            ClientRetries = clientRetries ?? new Dictionary<string, long>(StringComparer.Ordinal),
        };
    }

    public static OperationStats Build(string name, IEnumerable<OpRecorder> recorders, double seconds)
    {
        var histogram = new LongHistogram(1, OpRecorder.HighestMicros, 3);
        long hits = 0, misses = 0, errors = 0;
        foreach (var r in recorders)
        {
            histogram.Add(r.Histogram);
            hits += r.Hits;
            misses += r.Misses;
            errors += r.Errors;
        }

        var count = histogram.TotalCount;
        static double Ms(long micros) => micros / 1000.0;
        return new OperationStats
        {
            Name = name,
            Count = count,
            Errors = errors,
            Hits = hits,
            Misses = misses,
            Throughput = seconds > 0 ? count / seconds : 0,
            MeanMs = count > 0 ? histogram.GetMean() / 1000.0 : 0,
            P50Ms = count > 0 ? Ms(histogram.GetValueAtPercentile(50)) : 0,
            P90Ms = count > 0 ? Ms(histogram.GetValueAtPercentile(90)) : 0,
            P99Ms = count > 0 ? Ms(histogram.GetValueAtPercentile(99)) : 0,
            P999Ms = count > 0 ? Ms(histogram.GetValueAtPercentile(99.9)) : 0,
            MaxMs = count > 0 ? Ms(histogram.GetMaxValue()) : 0,
        };
    }

    public static Dictionary<string, long> MergeErrors(IEnumerable<WorkerStats> workers)
    {
        var merged = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var w in workers)
        {
            foreach (var (kind, n) in w.Errors)
            {
                merged[kind] = merged.TryGetValue(kind, out var m) ? m + n : n;
            }
        }

        return merged;
    }
}
