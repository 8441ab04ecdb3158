using System.Diagnostics;
using System.Globalization;
using AspireCache.Client;

namespace AspireCache.Bench;

/// <summary>
/// Snapshot mode: how long do writes stall while the leader writes a large snapshot?
/// Loads <see cref="BenchOptions.Keys"/> keys with batch writes, then keeps
/// <see cref="BenchOptions.Connections"/> writers busy on the leader, asks it for a snapshot
/// (<c>POST /admin/snapshot</c>) and reports the longest time no write completed — before and during
/// the snapshot — plus the longest single write. A write completes only once applied, so an apply
/// loop that waits for snapshot I/O shows up as a gap.
/// </summary>
public static class SnapshotRunner
{
    /// <summary>What one snapshot-mode run measured.</summary>
    public sealed record SnapshotStall(bool SnapshotSucceeded, double SnapshotMs, int WritesBefore, int WritesDuring, double LongestGapBeforeMs, double LongestGapDuringMs);

    private const int BatchKeys = 1000;

    /// <summary>Runs the scenario; the measured window is <see cref="BenchOptions.Duration"/> of writes before the snapshot and as long after it.</summary>
    public static async Task<SnapshotStall> RunAsync(BenchOptions options, TextWriter output, CancellationToken token)
    {
        options.Validate();
        using var handler = BenchRunner.CreateHandler(options);
        using var http = BenchRunner.CreateHttpClient(handler, TimeSpan.FromMinutes(5));
        BenchRunner.Authorize(http, options); // POST /admin/snapshot needs the admin scope when auth is on
        var target = options.Targets[0];
        var keys = BenchRunner.BuildKeys(options.KeyPrefix, options.Keys);

        // Keys and writes go through AspireCache.Client; a write that stalls behind the snapshot is what
        // is measured, so its deadline is as long as the old per-request timeout (5 min), never an error.
        // The snapshot request itself is an admin endpoint the client does not cover: raw HTTP below.
        using var clientHttp = BenchRunner.CreateHttpClient(handler, Timeout.InfiniteTimeSpan, target);
        var client = new AspireCacheClient(clientHttp, new AspireCacheClientOptions { Deadline = TimeSpan.FromMinutes(5), Credential = options.AspireCacheCredential });
        await PreloadAsync(client, keys, options.ValueSize, output, token);

        var completions = new List<(long At, double Ms)>[options.Connections];
        using var stop = new CancellationTokenSource();
        var writers = Enumerable.Range(0, options.Connections).Select(i =>
        {
            completions[i] = new List<(long, double)>(100_000);
            return WriterAsync(client, keys, options.ValueSize, options.Seed + i, completions[i], stop.Token);
        }).ToArray();

        var clock = Stopwatch.StartNew();
        await Task.Delay(options.Warmup + options.Duration, token);
        var snapshotStart = Stopwatch.GetTimestamp();
        using var response = await http.PostAsync(new Uri(target, "admin/snapshot"), null, token);
        var snapshotEnd = Stopwatch.GetTimestamp();
        var answer = await response.Content.ReadAsStringAsync(token);
        await Task.Delay(options.Duration, token);
        await stop.CancelAsync();
        await Task.WhenAll(writers);

        var all = completions.SelectMany(c => c).OrderBy(c => c.At).ToArray();
        var warm = Stopwatch.GetTimestamp() - (long)((clock.Elapsed - options.Warmup).TotalSeconds * Stopwatch.Frequency);
        var before = all.Where(c => c.At >= warm && c.At < snapshotStart).ToArray();
        var during = all.Where(c => c.At >= snapshotStart && c.At <= snapshotEnd).ToArray();
        // Writes in flight at any time during the snapshot (completed after it started, began before it ended).
        var overlapping = all.Where(c => c.At >= snapshotStart && c.At - (long)(c.Ms * Stopwatch.Frequency / 1000) <= snapshotEnd).ToArray();
        output.WriteLine($"snapshot: HTTP {(int)response.StatusCode} in {Ms(snapshotEnd - snapshotStart):0} ms — {answer}");
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"writes before the snapshot: {before.Length}, longest gap {LongestGap(before, warm, snapshotStart):0.0} ms, slowest write {Max(before):0.0} ms"));
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"writes during the snapshot: {during.Length}, longest gap {LongestGap(during, snapshotStart, snapshotEnd):0.0} ms, slowest write in flight during it {Max(overlapping):0.0} ms"));
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"longest apply stall (no write completed) while snapshotting {options.Keys} keys: {LongestGap(during, snapshotStart, snapshotEnd):0.0} ms"));
        return new SnapshotStall(
            response.IsSuccessStatusCode,
            Ms(snapshotEnd - snapshotStart),
            before.Length,
            during.Length,
            LongestGap(before, warm, snapshotStart),
            LongestGap(during, snapshotStart, snapshotEnd));
    }

    private static async Task PreloadAsync(IAspireCacheClient client, string[] keys, int valueSize, TextWriter output, CancellationToken token)
    {
        var clock = Stopwatch.StartNew();
        ReadOnlyMemory<byte> value = Enumerable.Range(0, valueSize).Select(i => (byte)i).ToArray();
        var next = -1;
        async Task Loader()
        {
            int batch;
            while ((batch = Interlocked.Increment(ref next)) * BatchKeys < keys.Length)
            {
                var sets = new Dictionary<string, ReadOnlyMemory<byte>>(BatchKeys, StringComparer.Ordinal);
                for (var k = batch * BatchKeys; k < Math.Min(keys.Length, (batch + 1) * BatchKeys); k++)
                {
                    sets[keys[k]] = value;
                }

                try
                {
                    // The client retries 503s and lost connections (exactly once) within its deadline.
                    await client.BatchAsync(sets, cancellationToken: token);
                }
                catch (AspireCacheException ex)
                {
                    throw new InvalidOperationException($"preload batch {batch} failed: {ex.Message}", ex);
                }
            }
        }

        await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => Loader()));
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"preload: {keys.Length} keys × {valueSize} B in {clock.Elapsed.TotalSeconds:0.0} s"));
    }

    private static async Task WriterAsync(IAspireCacheClient client, string[] keys, int valueSize, int seed, List<(long, double)> completions, CancellationToken stop)
    {
        await Task.Yield();
        var random = new Random(seed);
        var value = new byte[valueSize];
        while (!stop.IsCancellationRequested)
        {
            random.NextBytes(value);
            var started = Stopwatch.GetTimestamp();
            try
            {
                await client.SetAsync(keys[random.Next(keys.Length)], value, null, stop);
                var done = Stopwatch.GetTimestamp();
                completions.Add((done, Ms(done - started)));
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
            }
            catch (AspireCacheException)
            {
                // Not completed: only completions count (a gap is time without one).
            }
        }
    }

    private static double Ms(long ticks) => ticks * 1000.0 / Stopwatch.Frequency;

    private static double Max((long At, double Ms)[] writes) => writes.Length == 0 ? 0 : writes.Max(w => w.Ms);

    private static double LongestGap((long At, double Ms)[] writes, long from, long to)
    {
        var previous = from;
        long longest = 0;
        foreach (var (at, _) in writes)
        {
            longest = Math.Max(longest, at - previous);
            previous = at;
        }

        return Ms(Math.Max(longest, to - previous));
    }
}
