namespace AspireCache.Testing;

/// <summary>Key sequences for tests and micro-benchmarks.</summary>
public static class Workloads
{
    /// <summary><paramref name="samples"/> keys <c>item:{rank}</c> drawn from a Zipf(<paramref name="s"/>) distribution over <paramref name="keyCount"/> keys.</summary>
    public static string[] ZipfKeys(int keyCount, double s, int samples, int seed)
    {
        var keys = Enumerable.Range(0, keyCount).Select(rank => "item:" + rank).ToArray();
        var cdf = new double[keyCount];
        var sum = 0.0;
        for (var rank = 0; rank < keyCount; rank++)
        {
            sum += 1.0 / Math.Pow(rank + 1, s);
            cdf[rank] = sum;
        }

        var random = new Random(seed);
        var result = new string[samples];
        for (var i = 0; i < samples; i++)
        {
            var index = Array.BinarySearch(cdf, random.NextDouble() * sum);
            result[i] = keys[Math.Min(index < 0 ? ~index : index, keyCount - 1)];
        }

        return result;
    }
}
