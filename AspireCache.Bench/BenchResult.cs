namespace AspireCache.Bench;

/// <summary>Latency and throughput of one operation type (or of all of them) over the measured window.</summary>
public sealed class OperationStats
{
    public required string Name { get; init; }

    /// <summary>Successful operations (for reads: hits plus misses).</summary>
    public long Count { get; init; }

    public long Errors { get; init; }

    /// <summary>Successful operations per second.</summary>
    public double Throughput { get; init; }

    /// <summary>Reads that found the key (writes: equal to <see cref="Count"/>).</summary>
    public long Hits { get; init; }

    /// <summary>Reads answered "not found" (404 / no kvs).</summary>
    public long Misses { get; init; }

    public double MeanMs { get; init; }

    public double P50Ms { get; init; }

    public double P90Ms { get; init; }

    public double P99Ms { get; init; }

    public double P999Ms { get; init; }

    public double MaxMs { get; init; }
}

/// <summary>What failover mode found. Times are relative to the start of the run unless they say Unix.</summary>
public sealed class FailoverReport
{
    public int Writers { get; init; }

    public int Readers { get; init; }

    public long WritesAcknowledged { get; init; }

    public long WritesFailed { get; init; }

    public long ReadsSucceeded { get; init; }

    public long ReadsFailed { get; init; }

    /// <summary>Longest time without any successful write (including from the start, and up to the end).</summary>
    public double LongestWriteGapMs { get; init; }

    public double LongestWriteGapStartSeconds { get; init; }

    public long LongestWriteGapStartUnixMs { get; init; }

    public double LongestReadGapMs { get; init; }

    public double LongestReadGapStartSeconds { get; init; }

    public long LongestReadGapStartUnixMs { get; init; }

    /// <summary>Linearizable reads that returned an older value than one already acknowledged before the read started.</summary>
    public long StaleReads { get; init; }

    /// <summary>Keys whose acknowledged value was checked at the end.</summary>
    public long KeysVerified { get; init; }

    /// <summary>Keys whose last acknowledged value is gone (older value or missing).</summary>
    public long LostWrites { get; init; }

    /// <summary>Keys whose final value is a write that failed (unknown outcome) yet was applied: allowed, reported for information.</summary>
    public long UnacknowledgedWritesApplied { get; init; }

    /// <summary>Keys that could not be read during verification (errors until the verify timeout).</summary>
    public long KeysUnverified { get; init; }

    public double VerifySeconds { get; init; }

    /// <summary>Up to 20 examples of lost writes or stale reads, for the report.</summary>
    public IReadOnlyList<string> Examples { get; init; } = [];
}

/// <summary>The outcome of one run.</summary>
public sealed class BenchResult
{
    public required BenchOptions Options { get; init; }

    /// <summary>Length of the measured window in seconds.</summary>
    public double ElapsedSeconds { get; init; }

    /// <summary>Successful operations per second over the measured window.</summary>
    public double Throughput => Total.Throughput;

    /// <summary>Successful operations in the measured window.</summary>
    public long TotalOperations => Total.Count;

    public long TotalErrors => Total.Errors;

    /// <summary>Per operation type: <c>read</c>, <c>write</c>.</summary>
    public required IReadOnlyDictionary<string, OperationStats> Operations { get; init; }

    /// <summary>All operation types together.</summary>
    public required OperationStats Total { get; init; }

    /// <summary>Errors in the measured window by kind: <c>HTTP 503</c>, <c>Timeout</c>, <c>HttpRequestException:ConnectionError</c>, ...</summary>
    public required IReadOnlyDictionary<string, long> Errors { get; init; }

    /// <summary>
    /// With the library client: attempts AspireCache.Client made after the first one of a call, in the
    /// measured window, by operation and reason (<c>set 503</c>, <c>get connection</c>, <c>set 421</c>).
    /// They are not errors (the call may still have succeeded) but show what the retries hid.
    /// </summary>
    public IReadOnlyDictionary<string, long> ClientRetries { get; init; } = new Dictionary<string, long>(StringComparer.Ordinal);

    /// <summary>CPU used by this load generator during the measured window, in % of one core (the machine may have few).</summary>
    public double ClientCpuPercent { get; init; }

    public double PreloadSeconds { get; init; }

    public long PreloadErrors { get; init; }

    public FailoverReport? Failover { get; init; }
}
