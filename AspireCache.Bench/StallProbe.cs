using System.Diagnostics;
using System.Globalization;
using System.Net;

namespace AspireCache.Bench;

/// <summary>
/// <c>--mode probe</c>: where a read's latency tail comes from. One probe per target × path (e.g. the router,
/// the leader and a follower, each with a linearizable and a stale read) sends GETs one after another for
/// <see cref="BenchOptions.Duration"/>, each on its own thread with its own keep-alive connection and
/// synchronous sends (no thread-pool hop in the tool), while a load generator (bench/stalls.sh: wrk) keeps the
/// cluster busy. Per probe: p50, p99, max and the <em>stalls</em> (requests slower than
/// <see cref="BenchOptions.StallThreshold"/>); per stall, whether a stall of another probe overlapped it in
/// time: a stall every path shares is the box or a whole process pausing (scheduling, GC), one only the
/// linearizable paths share is on the read-index path (its round or the hops around it). A request during which
/// the probing process itself paused (a GC of its own) measured that pause, not the cluster: it is left out of
/// the percentiles and stalls and counted apart (the report's "own GC" column).
/// </summary>
public static class StallProbe
{
    /// <summary>One request slower than the threshold: when it started (ms since the probes started) and how long it took.</summary>
    public readonly record struct Stall(double StartMs, double LatencyMs)
    {
        public double EndMs => StartMs + LatencyMs;

        public bool Overlaps(Stall other) => StartMs < other.EndMs && other.StartMs < EndMs;
    }

    /// <summary>What one probe saw. <paramref name="OwnPauses"/>: requests left out because the probing process paused during them.</summary>
    public sealed record ProbeResult(string Name, int Requests, int Errors, double P50Ms, double P99Ms, double MaxMs, IReadOnlyList<Stall> Stalls, int OwnPauses = 0);

    /// <summary>
    /// Runs every probe at once; prints one line per probe and the overlap of their stalls.
    /// <paramref name="pauseClock"/>: this process's total pause time (default <see cref="GC.GetTotalPauseDuration"/>);
    /// a request during which it moved is left out.
    /// </summary>
    public static async Task<IReadOnlyList<ProbeResult>> RunAsync(BenchOptions options, TextWriter output, CancellationToken token, Func<TimeSpan>? pauseClock = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(output);
        var keys = BenchRunner.BuildKeys(options.KeyPrefix, options.Keys);
        var probes = new List<(string Name, Uri Target, string Path)>();
        foreach (var target in options.Targets)
        {
            foreach (var path in options.ProbePaths)
            {
                probes.Add((string.Create(CultureInfo.InvariantCulture, $"{target.Authority}/{path}"), target, path));
            }
        }

        var gcs = GC.CollectionCount(0);
        var paused = GC.GetTotalPauseDuration();
        var start = Stopwatch.GetTimestamp();
        pauseClock ??= GC.GetTotalPauseDuration;
        var tasks = probes.Select(p => RunProbeAsync(p.Name, p.Target, p.Path, keys, options, start, pauseClock, token)).ToArray();
        var results = await Task.WhenAll(tasks);
        Report(results, options.StallThreshold, output);

        // The probes share this process: a pause of its own (a GC) would stall them all at once and look like the box's.
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"the probing process itself: {GC.CollectionCount(0) - gcs} garbage collections, {(GC.GetTotalPauseDuration() - paused).TotalMilliseconds:0.0} ms paused"));
        return results;
    }

    /// <summary>The table: per probe, its latency and stalls; and how many of its stalls overlapped a stall of another probe.</summary>
    public static void Report(IReadOnlyList<ProbeResult> results, TimeSpan threshold, TextWriter output)
    {
        ArgumentNullException.ThrowIfNull(results);
        ArgumentNullException.ThrowIfNull(output);
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{"probe",-52} {"requests",9} {"errors",7} {"own GC",7} {"p50 ms",7} {"p99 ms",7} {"max ms",7} {$"> {threshold.TotalMilliseconds:0} ms",8} {"shared",7}"));
        foreach (var result in results)
        {
            var shared = result.Stalls.Count(s => results.Any(other => !ReferenceEquals(other, result) && other.Stalls.Any(s.Overlaps)));
            output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{result.Name,-52} {result.Requests,9} {result.Errors,7} {result.OwnPauses,7} {result.P50Ms,7:0.00} {result.P99Ms,7:0.00} {result.MaxMs,7:0.0} {result.Stalls.Count,8} {shared,7}"));
        }

        output.WriteLine("shared = stalls that overlapped in time a stall of at least one other probe; own GC = requests left out because the probing process paused during them.");
        foreach (var result in results.Where(r => r.Stalls.Count > 0))
        {
            var list = string.Join(" ", result.Stalls.Take(40).Select(s => string.Create(CultureInfo.InvariantCulture, $"{s.StartMs / 1000:0.000}s+{s.LatencyMs:0}")));
            output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {result.Name}: {list}{(result.Stalls.Count > 40 ? " …" : "")}"));
        }
    }

    private static Task<ProbeResult> RunProbeAsync(string name, Uri target, string path, string[] keys, BenchOptions options, long start, Func<TimeSpan> pauseClock, CancellationToken token)
    {
        var done = new TaskCompletionSource<ProbeResult>(TaskCreationOptions.RunContinuationsAsynchronously);
        var thread = new Thread(() =>
        {
            try
            {
                done.SetResult(Probe(name, target, path, keys, options, start, pauseClock, token));
            }
            catch (Exception ex)
            {
                done.SetException(ex);
            }
        })
        {
            IsBackground = true,
            Name = "probe " + name,
        };
        thread.Start();
        return done.Task;
    }

    private static ProbeResult Probe(string name, Uri target, string path, string[] keys, BenchOptions options, long start, Func<TimeSpan> pauseClock, CancellationToken token)
    {
        using var http = BenchRunner.CreateHttpClient(1, options.RequestTimeout, TimeSpan.FromMinutes(5), TimeSpan.FromSeconds(5));
        BenchRunner.Authorize(http, options);
        var uris = new Uri[Math.Min(keys.Length, 1024)];
        for (var i = 0; i < uris.Length; i++)
        {
            uris[i] = new Uri(target, path.Replace("{key}", keys[i], StringComparison.Ordinal));
        }

        Send(http, uris[0], token); // the connection, before the clock starts
        var latencies = new List<double>(64 * 1024);
        var stalls = new List<Stall>();
        var errors = 0;
        var ownPauses = 0;
        var thresholdMs = options.StallThreshold.TotalMilliseconds;
        var end = Stopwatch.GetTimestamp() + (long)(options.Duration.TotalSeconds * Stopwatch.Frequency);
        for (var i = 0; Stopwatch.GetTimestamp() < end && !token.IsCancellationRequested; i++)
        {
            var paused = pauseClock();
            var sent = Stopwatch.GetTimestamp();
            if (!Send(http, uris[i % uris.Length], token))
            {
                errors++;
            }

            var latency = Stopwatch.GetElapsedTime(sent).TotalMilliseconds;
            if (pauseClock() != paused)
            {
                ownPauses++; // it measured this process's pause, not the cluster
                continue;
            }

            latencies.Add(latency);
            if (latency > thresholdMs)
            {
                stalls.Add(new Stall(Stopwatch.GetElapsedTime(start, sent).TotalMilliseconds, latency));
            }
        }

        var summary = Percentiles.Of(latencies);
        return new ProbeResult(name, latencies.Count, errors, summary.P50Ms, summary.P99Ms, summary.MaxMs, stalls, ownPauses);
    }

    /// <summary>One synchronous GET; true for 2xx (the body read to the end, so the connection is reused).</summary>
    private static bool Send(HttpClient http, Uri uri, CancellationToken token)
    {
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, uri);
            using var response = http.Send(request, HttpCompletionOption.ResponseContentRead, token);
            return response.StatusCode is >= HttpStatusCode.OK and < HttpStatusCode.MultipleChoices;
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
        {
            return false;
        }
    }
}
