namespace AspireCache.Bench;

/// <summary>Latency percentiles in milliseconds (nearest rank), as the watch and probe modes report them.</summary>
public sealed record Percentiles(long Count, double P50Ms, double P90Ms, double P99Ms, double P999Ms, double MaxMs)
{
    /// <summary>The percentiles of <paramref name="values"/> (all zero when there are none).</summary>
    public static Percentiles Of(IEnumerable<double> values)
    {
        var sorted = values.ToArray();
        Array.Sort(sorted);
        return new Percentiles(sorted.Length, At(sorted, 0.5), At(sorted, 0.9), At(sorted, 0.99), At(sorted, 0.999), sorted.Length == 0 ? 0 : sorted[^1]);
    }

    /// <summary>Nearest-rank percentile of a sorted array (0 when empty).</summary>
    public static double At(double[] sorted, double q)
    {
        ArgumentNullException.ThrowIfNull(sorted);
        if (sorted.Length == 0)
        {
            return 0;
        }

        var rank = (int)Math.Ceiling(q * sorted.Length) - 1;
        return sorted[Math.Clamp(rank, 0, sorted.Length - 1)];
    }
}
