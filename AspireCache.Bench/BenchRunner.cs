using System.Diagnostics;
using System.Globalization;
using System.Net;

namespace AspireCache.Bench;

/// <summary>Runs a benchmark: closed-loop load (<see cref="BenchMode.Load"/>) or the failover check.</summary>
public static class BenchRunner
{
    internal const int Warmup = 0;
    internal const int Measuring = 1;
    internal const int Stopped = 2;

    public static async Task<BenchResult> RunAsync(BenchOptions options, TextWriter progress, CancellationToken token)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(progress);
        options.Validate();
        if (options.Mode == BenchMode.LeaderWatch)
        {
            throw new ArgumentException("Leader-watch mode is run by LeaderWatch.RunAsync.", nameof(options));
        }

        using var handler = CreateHandler(options);
        using var http = CreateHttpClient(handler, options.RequestTimeout);
        Authorize(http, options);
        using var retries = new ClientRetries();
        return options.Mode == BenchMode.Failover
            ? await FailoverRunner.RunAsync(options, handler, http, retries, progress, token)
            : await RunLoadAsync(options, handler, http, retries, progress, token);
    }

    /// <summary>One pooled handler: HTTP/1.1 keep-alive, at most one connection per worker and server, nothing extra on the wire.</summary>
    internal static HttpClient CreateHttpClient(BenchOptions options) =>
        CreateHttpClient(CreateHandler(options), options.RequestTimeout, disposeHandler: true);

    /// <summary>The handler of <see cref="CreateHttpClient(BenchOptions)"/>, for several clients to share.</summary>
    internal static SocketsHttpHandler CreateHandler(BenchOptions options) =>
        CreateHandler(options.Connections, TimeSpan.FromMinutes(5), TimeSpan.FromSeconds(5));

    /// <summary>The bench tool's HTTP/1.1 client: keep-alive, no redirects, cookies, proxy, decompression or trace headers.</summary>
    internal static HttpClient CreateHttpClient(int maxConnectionsPerServer, TimeSpan timeout, TimeSpan idleTimeout, TimeSpan connectTimeout) =>
        CreateHttpClient(CreateHandler(maxConnectionsPerServer, idleTimeout, connectTimeout), timeout, disposeHandler: true);

    /// <summary>A pooled HTTP/1.1 handler: keep-alive, no redirects, cookies, proxy, decompression or trace headers.</summary>
    internal static SocketsHttpHandler CreateHandler(int maxConnectionsPerServer, TimeSpan idleTimeout, TimeSpan connectTimeout) =>
        new()
        {
            MaxConnectionsPerServer = maxConnectionsPerServer,
            PooledConnectionLifetime = Timeout.InfiniteTimeSpan,
            PooledConnectionIdleTimeout = idleTimeout,
            ConnectTimeout = connectTimeout,
            AllowAutoRedirect = false,
            UseCookies = false,
            UseProxy = false,
            AutomaticDecompression = DecompressionMethods.None,
            ActivityHeadersPropagator = null,
        };

    /// <summary>An HTTP/1.1-only client on <paramref name="handler"/> (shared unless <paramref name="disposeHandler"/>), with <paramref name="baseAddress"/> if given (AspireCache.Client needs one).</summary>
    internal static HttpClient CreateHttpClient(HttpMessageHandler handler, TimeSpan timeout, Uri? baseAddress = null, bool disposeHandler = false) =>
        new(handler, disposeHandler)
        {
            Timeout = timeout,
            BaseAddress = baseAddress,
            DefaultRequestVersion = HttpVersion.Version11,
            DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact,
        };

    /// <summary>
    /// With <c>--api-key</c> on an AspireCache run: <c>Authorization: Bearer &lt;key&gt;</c> as a default header
    /// of <paramref name="http"/>, set once (stored unparsed, so each request only gets a reference to the same
    /// string). etcd runs never get it (<see cref="BenchOptions.AspireCacheCredential"/>).
    /// </summary>
    internal static void Authorize(HttpClient http, BenchOptions options)
    {
        if (options.AspireCacheCredential is { } key)
        {
            http.DefaultRequestHeaders.Remove("Authorization");
            http.DefaultRequestHeaders.TryAddWithoutValidation("Authorization", "Bearer " + key);
        }
    }

    internal static string[] BuildKeys(string prefix, int count)
    {
        var digits = Math.Max(6, count.ToString(CultureInfo.InvariantCulture).Length);
        var format = "D" + digits.ToString(CultureInfo.InvariantCulture);
        var keys = new string[count];
        for (var i = 0; i < count; i++)
        {
            keys[i] = prefix + i.ToString(format, CultureInfo.InvariantCulture);
        }

        return keys;
    }

    internal static WorkerContext[] CreateWorkers(BenchOptions options, int count)
    {
        var workers = new WorkerContext[count];
        for (var i = 0; i < count; i++)
        {
            var w = new WorkerContext(i, i % options.Targets.Count, options.Seed + (i * 7919), options.ValueSize);
            w.Random.NextBytes(w.Value);
            workers[i] = w;
        }

        return workers;
    }

    private static async Task<BenchResult> RunLoadAsync(BenchOptions options, HttpMessageHandler handler, HttpClient http, ClientRetries retries, TextWriter progress, CancellationToken token)
    {
        var keys = BuildKeys(options.KeyPrefix, options.Keys);
        var client = KvClient.Create(options, handler, http, keys, options.Consistency == ReadConsistency.Linearizable);
        var workers = CreateWorkers(options, options.Connections);
        var stats = new WorkerStats[workers.Length];
        for (var i = 0; i < stats.Length; i++)
        {
            stats[i] = new WorkerStats();
        }

        progress.WriteLine($"# {options.Label ?? "run"}: {options.Describe()}");

        double preloadSeconds = 0;
        long preloadErrors = 0;
        if (options.Preload)
        {
            (preloadSeconds, preloadErrors) = await PreloadAsync(client, workers, options.Keys, progress, token);
        }

        var state = new LoadState(options, client, new KeyGenerator(options.Keys, options.Distribution, options.ZipfS));
        var counters = state.Counters;
        using var stopProgress = CancellationTokenSource.CreateLinkedTokenSource(token);
        var clock = Stopwatch.StartNew();
        var progressTask = ProgressAsync(progress, options.ProgressInterval, clock, counters, () => state.Phase == Warmup ? "warmup " : "measure", stopProgress.Token);

        var tasks = new Task[workers.Length];
        for (var i = 0; i < workers.Length; i++)
        {
            tasks[i] = state.RunWorkerAsync(workers[i], stats[i], token);
        }

        await DelayAsync(options.Warmup, token);
        Volatile.Write(ref state.Phase, Measuring);
        var measureStart = Stopwatch.GetTimestamp();
        var cpuStart = CpuTime();
        var retriesStart = retries.Snapshot();
        await DelayAsync(options.Duration, token);
        Volatile.Write(ref state.Phase, Stopped);
        var retriesMeasured = ClientRetries.Since(retriesStart, retries.Snapshot());
        var elapsed = Stopwatch.GetElapsedTime(measureStart).TotalSeconds;
        var cpuPercent = (CpuTime() - cpuStart).TotalSeconds / elapsed * 100;
        await Task.WhenAll(tasks);
        await stopProgress.CancelAsync();
        await progressTask;

        return Stats.ToResult(options, elapsed, stats, cpuPercent, preloadSeconds, preloadErrors, clientRetries: retriesMeasured);
    }

    /// <summary>Closed-loop workers sharing the phase flag. Only operations that start and end while measuring are recorded.</summary>
    private sealed class LoadState(BenchOptions options, KvClient client, KeyGenerator keyGenerator)
    {
        public int Phase = Warmup;

        public LiveCounters Counters { get; } = new();

        private readonly double _readFraction = options.ReadFraction;
        private readonly TimeSpan _backoff = options.EffectiveErrorBackoff;

        public async Task RunWorkerAsync(WorkerContext worker, WorkerStats stats, CancellationToken token)
        {
            // Leave the caller's thread at once: all workers start together.
            await Task.Yield();
            var value = worker.Value.AsMemory();
            try
            {
                while (true)
                {
                    var phase = Volatile.Read(ref Phase);
                    if (phase == Stopped)
                    {
                        return;
                    }

                    var isRead = _readFraction >= 1 || (_readFraction > 0 && worker.Random.NextDouble() < _readFraction);
                    var key = keyGenerator.Next(worker.Random);
                    var start = Stopwatch.GetTimestamp();
                    var result = isRead
                        ? await client.GetAsync(worker, key, token)
                        : await client.PutAsync(worker, key, value, token);
                    var end = Stopwatch.GetTimestamp();

                    Interlocked.Increment(ref Counters.Completed);
                    if (phase == Measuring && Volatile.Read(ref Phase) == Measuring)
                    {
                        var op = isRead ? stats.Reads : stats.Writes;
                        if (result.Status == OpStatus.Error)
                        {
                            stats.Error(result.Error!, op);
                        }
                        else
                        {
                            op.Record(start, end, result.Status);
                        }
                    }

                    if (result.Status == OpStatus.Error)
                    {
                        Interlocked.Increment(ref Counters.Errors);
                        if (_backoff > TimeSpan.Zero)
                        {
                            await Task.Delay(_backoff, token);
                        }
                    }
                }
            }
            catch (OperationCanceledException) when (token.IsCancellationRequested)
            {
                // Ctrl+C: stop quietly, partial results are still reported.
            }
        }
    }

    /// <summary>Writes every key once (a few retries per key), all workers in parallel.</summary>
    internal static async Task<(double Seconds, long Errors)> PreloadAsync(KvClient client, WorkerContext[] workers, int keyCount, TextWriter progress, CancellationToken token)
    {
        var next = -1;
        long errors = 0;
        long failedKeys = 0;
        var clock = Stopwatch.StartNew();

        async Task Worker(WorkerContext w)
        {
            await Task.Yield();
            int key;
            while ((key = Interlocked.Increment(ref next)) < keyCount)
            {
                for (var attempt = 0; ; attempt++)
                {
                    var result = await client.PutAsync(w, key, w.Value, token);
                    if (result.Status != OpStatus.Error)
                    {
                        break;
                    }

                    Interlocked.Increment(ref errors);
                    if (attempt == 4)
                    {
                        Interlocked.Increment(ref failedKeys);
                        break;
                    }

                    await Task.Delay(50 * (attempt + 1), token);
                }
            }
        }

        var tasks = new Task[workers.Length];
        for (var i = 0; i < workers.Length; i++)
        {
            tasks[i] = Worker(workers[i]);
        }

        await Task.WhenAll(tasks);
        var seconds = clock.Elapsed.TotalSeconds;
        progress.WriteLine(string.Create(
            CultureInfo.InvariantCulture,
            $"preload: {keyCount} keys in {seconds:0.0} s ({keyCount / seconds:0} writes/s), {errors} errors, {failedKeys} keys not written"));
        return (seconds, errors);
    }

    internal static async Task ProgressAsync(TextWriter progress, TimeSpan interval, Stopwatch clock, LiveCounters counters, Func<string> phase, CancellationToken token)
    {
        using var timer = new PeriodicTimer(interval);
        long lastCompleted = 0, lastErrors = 0;
        var lastTime = clock.Elapsed;
        try
        {
            while (await timer.WaitForNextTickAsync(token))
            {
                var now = clock.Elapsed;
                var completed = Interlocked.Read(ref counters.Completed);
                var errors = Interlocked.Read(ref counters.Errors);
                var seconds = (now - lastTime).TotalSeconds;
                var ops = (completed - lastCompleted - (errors - lastErrors)) / seconds;
                var line = string.Create(
                    CultureInfo.InvariantCulture,
                    $"[{now.TotalSeconds,6:0.0}s] {phase()}  ops/s {ops,9:0}  errors/s {(errors - lastErrors) / seconds,7:0}  errors {errors}");
                var reads = Interlocked.Read(ref counters.Reads);
                var writes = Interlocked.Read(ref counters.Writes);
                if (reads + writes > 0)
                {
                    line += string.Create(CultureInfo.InvariantCulture, $"  (ok reads {reads}, ok writes {writes})");
                }

                progress.WriteLine(line);
                lastCompleted = completed;
                lastErrors = errors;
                lastTime = now;
            }
        }
        catch (OperationCanceledException)
        {
            // Stopped.
        }
    }

    internal static TimeSpan CpuTime()
    {
        using var self = Process.GetCurrentProcess();
        return self.TotalProcessorTime;
    }

    internal static async Task DelayAsync(TimeSpan delay, CancellationToken token)
    {
        if (delay <= TimeSpan.Zero)
        {
            return;
        }

        try
        {
            await Task.Delay(delay, token);
        }
        catch (OperationCanceledException)
        {
            // Ctrl+C: finish with what was measured.
        }
    }
}
