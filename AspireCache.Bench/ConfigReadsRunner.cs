using System.Diagnostics;
using System.Globalization;
using System.Text;
using AspireCache.Client;
using HdrHistogram;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace AspireCache.Bench;

/// <summary>What <see cref="ConfigReadsRunner"/> runs.</summary>
/// <param name="Targets">The router; or several node URLs: direct mode (the client picks the leader and the nearest node).</param>
/// <param name="Instances">Simulated service instances: one <see cref="AspireCacheClient"/> (own connections, own near cache) each.</param>
/// <param name="Readers">Concurrent readers per instance.</param>
/// <param name="Keys">Hot keys read (uniformly).</param>
/// <param name="ValueSize">Bytes per value.</param>
/// <param name="Duration">Measured time per mode.</param>
/// <param name="Modes">Read modes: <c>linearizable</c> (server), <c>near</c> (linearizable near cache), <c>bounded</c> (bounded staleness), <c>stale-local</c>.</param>
/// <param name="MaxStaleness">The bound of <c>bounded</c>.</param>
/// <param name="Pids">Server processes whose CPU time is reported.</param>
/// <param name="Credential">The bearer key every client sends (<c>--api-key</c>); null: none.</param>
internal sealed record ConfigReadsSettings(IReadOnlyList<Uri> Targets, int Instances, int Readers, int Keys, int ValueSize, TimeSpan Duration, IReadOnlyList<string> Modes, TimeSpan MaxStaleness, IReadOnlyList<int> Pids, string? Credential = null);

/// <summary>
/// Issue #12's configuration-read benchmark: many service instances, each with a few concurrent
/// readers, read a small set of hot keys, in server-only linearizable, linearizable near-cache and
/// bounded-staleness modes. Prints reads/s in total, latency percentiles, the progress requests the
/// near caches sent, and the CPU the servers and this process used. Also the propagation benchmark:
/// one PUT to <c>IOptionsMonitor.OnChange</c> in every instance.
/// </summary>
internal static class ConfigReadsRunner
{
    private const string Prefix = "bench-config/";

    public static async Task<int> RunAsync(ConfigReadsSettings settings, TextWriter output, CancellationToken token)
    {
        var keys = Enumerable.Range(0, settings.Keys).Select(i => $"{Prefix}k{i:D4}").ToArray();
        await using (var seeder = NewClient(settings.Targets, nearCache: null, settings.Credential))
        {
            var value = new byte[settings.ValueSize];
            Random.Shared.NextBytes(value);
            await seeder.BatchAsync(keys.ToDictionary(k => k, _ => (ReadOnlyMemory<byte>)value), cancellationToken: token);
        }

        output.WriteLine($"config reads: {settings.Instances} instances x {settings.Readers} readers, {settings.Keys} keys of {settings.ValueSize} B, {settings.Duration.TotalSeconds:0} s per mode, {(settings.Targets.Count > 1 ? "direct mode over " + string.Join(", ", settings.Targets) : "through " + settings.Targets[0])}; {Environment.ProcessorCount} cores, load {WatchRunner.LoadAverage():0.00}");
        output.WriteLine("| mode | reads/s | p50 ms | p99 ms | p99.9 ms | max ms | answered locally | progress req/s | server CPU (cores) | bench CPU (cores) | errors |");
        output.WriteLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var mode in settings.Modes)
        {
            var line = await RunModeAsync(settings, mode, keys, token);
            output.WriteLine(line);
        }

        return 0;
    }

    private static async Task<string> RunModeAsync(ConfigReadsSettings settings, string mode, string[] keys, CancellationToken token)
    {
        var (consistency, near) = mode switch
        {
            "linearizable" => (Consistency.Linearizable, (NearCacheOptions?)null),
            "near" => (Consistency.LinearizableNearCache, new NearCacheOptions { Prefixes = [Prefix] }),
            "bounded" => (Consistency.BoundedStaleness, new NearCacheOptions { Prefixes = [Prefix], MaxStaleness = settings.MaxStaleness }),
            "stale-local" => (Consistency.Stale, new NearCacheOptions { Prefixes = [Prefix] }),
            _ => throw new ArgumentException($"unknown mode '{mode}' (linearizable, near, bounded, stale-local)"),
        };
        var read = new ReadOptions { Consistency = consistency, MaxStaleness = settings.MaxStaleness };
        var instances = Enumerable.Range(0, settings.Instances).Select(_ => NewClient(settings.Targets, near, settings.Credential)).ToArray();
        try
        {
            // Warm up: every instance reads every key once (fills its near cache, opens connections).
            await Task.WhenAll(instances.Select(async client =>
            {
                foreach (var key in keys)
                {
                    await client.GetAsync(key, read, token);
                }
            }));

            var probesBefore = instances.Sum(c => c.NearCache is { } n ? Interlocked.Read(ref n.Probes.Sent) : 0);
            var hitsBefore = instances.Sum(c => c.NearCache is { } n ? Interlocked.Read(ref n.Store.Hits) : 0);
            var serverCpu = WatchRunner.CpuTicks(settings.Pids);
            var benchCpu = Process.GetCurrentProcess().TotalProcessorTime;
            var started = Stopwatch.GetTimestamp();
            var until = started + (long)(settings.Duration.TotalSeconds * Stopwatch.Frequency);
            var tasks = new List<Task<(LongHistogram Histogram, long Errors)>>();
            for (var i = 0; i < instances.Length; i++)
            {
                for (var r = 0; r < settings.Readers; r++)
                {
                    var client = instances[i];
                    var seed = (i * 1000) + r;
                    tasks.Add(Task.Run(() => ReadLoopAsync(client, keys, read, until, seed, token)));
                }
            }

            var results = await Task.WhenAll(tasks);
            var elapsed = Stopwatch.GetElapsedTime(started).TotalSeconds;
            var serverCores = (WatchRunner.CpuTicks(settings.Pids) - serverCpu) / 100.0 / elapsed;
            var benchCores = (Process.GetCurrentProcess().TotalProcessorTime - benchCpu).TotalSeconds / elapsed;
            var probes = instances.Sum(c => c.NearCache is { } n ? Interlocked.Read(ref n.Probes.Sent) : 0) - probesBefore;
            var hits = instances.Sum(c => c.NearCache is { } n ? Interlocked.Read(ref n.Store.Hits) : 0) - hitsBefore;
            var histogram = new LongHistogram(1, 60_000_000, 3);
            foreach (var (h, _) in results)
            {
                histogram.Add(h);
            }

            var count = histogram.TotalCount;
            var errors = results.Sum(r => r.Errors);
            static string Ms(long micros) => (micros / 1000.0).ToString("0.00", CultureInfo.InvariantCulture);
            return string.Create(CultureInfo.InvariantCulture,
                $"| {mode} | {count / elapsed:N0} | {Ms(histogram.GetValueAtPercentile(50))} | {Ms(histogram.GetValueAtPercentile(99))} | {Ms(histogram.GetValueAtPercentile(99.9))} | {Ms(histogram.GetMaxValue())} | {(count == 0 ? 0 : 100.0 * hits / count):0.0} % | {probes / elapsed:N0} | {serverCores:0.00} | {benchCores:0.00} | {errors} |");
        }
        finally
        {
            foreach (var client in instances)
            {
                await client.DisposeAsync();
            }
        }
    }

    private static async Task<(LongHistogram, long)> ReadLoopAsync(AspireCacheClient client, string[] keys, ReadOptions read, long until, int seed, CancellationToken token)
    {
        var histogram = new LongHistogram(1, 60_000_000, 3);
        var random = new Random(seed);
        long errors = 0;
        var n = 0;
        while (Stopwatch.GetTimestamp() < until && !token.IsCancellationRequested)
        {
            var key = keys[random.Next(keys.Length)];
            var t0 = Stopwatch.GetTimestamp();
            try
            {
                await client.GetAsync(key, read, token);
                histogram.RecordValue(Math.Max(1, (Stopwatch.GetTimestamp() - t0) * 1_000_000 / Stopwatch.Frequency));
            }
            catch (AspireCacheException)
            {
                errors++;
            }

            if ((++n & 63) == 0)
            {
                // Local hits complete synchronously: let the other readers of this core run.
                await Task.Yield();
            }
        }

        return (histogram, errors);
    }

    /// <summary>
    /// A PUT to <c>IOptionsMonitor&lt;T&gt;.OnChange</c> in <paramref name="instances"/> configuration
    /// providers (each its own client and watch stream, as separate services would have): per write,
    /// the time from sending the PUT until each instance's OnChange saw the new value.
    /// </summary>
    public static async Task<int> RunPropagationAsync(Uri target, int instances, int writes, string? credential, TextWriter output, CancellationToken token)
    {
        const string prefix = "bench-propagation/";
        await using var writer = NewClient([target], nearCache: null, credential);
        var connectionString = credential is null ? $"Endpoint={target}" : $"Endpoint={target};Key={credential}";
        await writer.SetAsync(prefix + "Bench/Value", Encoding.UTF8.GetBytes("start"), cancellationToken: token);

        var expected = "start";
        long writeStarted = 0;
        var histogram = new LongHistogram(1, 60_000_000, 3);
        var seen = 0;
        var allSeen = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var gate = new Lock();
        var providers = new List<ServiceProvider>();
        for (var i = 0; i < instances; i++)
        {
            var configuration = new ConfigurationBuilder()
                .AddInMemoryCollection(new Dictionary<string, string?> { ["ConnectionStrings:cache"] = connectionString })
                .AddAspireCache("cache", prefix)
                .Build();
            var services = new ServiceCollection();
            services.Configure<PropagationSettings>(configuration.GetSection("Bench"));
            var provider = services.BuildServiceProvider();
            providers.Add(provider);
            var monitor = provider.GetRequiredService<IOptionsMonitor<PropagationSettings>>();
            var last = monitor.CurrentValue.Value;
            monitor.OnChange(settings =>
            {
                lock (gate)
                {
                    if (settings.Value == last || settings.Value != expected)
                    {
                        return;
                    }

                    last = settings.Value;
                    histogram.RecordValue(Math.Max(1, (Stopwatch.GetTimestamp() - writeStarted) * 1_000_000 / Stopwatch.Frequency));
                    if (++seen == instances)
                    {
                        allSeen.TrySetResult();
                    }
                }
            });
        }

        var missed = 0;
        for (var w = 0; w < writes; w++)
        {
            Task done;
            lock (gate)
            {
                expected = $"v{w}";
                seen = 0;
                allSeen = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                done = allSeen.Task;
                writeStarted = Stopwatch.GetTimestamp();
            }

            await writer.SetAsync(prefix + "Bench/Value", Encoding.UTF8.GetBytes(expected), cancellationToken: token);
            try
            {
                await done.WaitAsync(TimeSpan.FromSeconds(5), token);
            }
            catch (TimeoutException)
            {
                lock (gate)
                {
                    missed += instances - seen;
                }
            }

            await Task.Delay(100, token);
        }

        foreach (var provider in providers)
        {
            await provider.DisposeAsync();
        }

        static string Ms(long micros) => (micros / 1000.0).ToString("0.0", CultureInfo.InvariantCulture);
        output.WriteLine($"propagation: {writes} PUTs x {instances} instances (IOptionsMonitor.OnChange), target {target}; {Environment.ProcessorCount} cores, load {WatchRunner.LoadAverage():0.00}");
        output.WriteLine("| samples | p50 ms | p90 ms | p99 ms | max ms | not seen within 5 s |");
        output.WriteLine("|---:|---:|---:|---:|---:|---:|");
        output.WriteLine($"| {histogram.TotalCount} | {Ms(histogram.GetValueAtPercentile(50))} | {Ms(histogram.GetValueAtPercentile(90))} | {Ms(histogram.GetValueAtPercentile(99))} | {Ms(histogram.GetMaxValue())} | {missed} |");
        return missed == 0 ? 0 : 1;
    }

    /// <summary>The option the propagation benchmark binds (<c>bench-propagation/Bench/Value</c>).</summary>
    internal sealed class PropagationSettings
    {
        public string? Value { get; set; }
    }

    private static AspireCacheClient NewClient(IReadOnlyList<Uri> targets, NearCacheOptions? nearCache, string? credential)
    {
        // One connection pool per simulated instance, as separate services would have.
        var handler = new SocketsHttpHandler { PooledConnectionIdleTimeout = TimeSpan.FromMinutes(5), MaxConnectionsPerServer = 64 };
        return new AspireCacheClient(
            new HttpClient(handler) { BaseAddress = targets[0], Timeout = Timeout.InfiniteTimeSpan },
            new AspireCacheClientOptions
            {
                NearCache = nearCache,
                Deadline = TimeSpan.FromSeconds(10),
                Nodes = targets.Count > 1 ? [.. targets] : [],
                Credential = credential,
            });
    }
}
