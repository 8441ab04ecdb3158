using System.Buffers.Binary;
using System.Buffers.Text;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using AspireCache.Client;

namespace AspireCache.Bench;

/// <summary>
/// <c>--mode watch</c>: watch latency and fan-out. Opens <see cref="BenchOptions.Watchers"/> watch streams on
/// <see cref="BenchOptions.KeyPrefix"/> (AspireCache: <c>GET /cache/watch</c>, Server-Sent Events; etcd:
/// <c>POST /v3/watch</c> on the JSON gateway, newline-delimited JSON) spread round-robin over the targets,
/// measures the servers' resident memory before and after (idle), then writes at a fixed rate (open loop)
/// values that carry an 8-byte sequence number. Every stream records when each sequence number reached it;
/// latency = receipt − acknowledgement of the write (0 when the event beat the HTTP response, counted
/// separately) and, as a second view, receipt − send. Events that never arrive are reported as missing.
/// </summary>
public static class WatchRunner
{
    private static readonly byte[] ValueField = "\"value\":\""u8.ToArray();

    /// <summary>Everything one watch run measured.</summary>
    public sealed class WatchResult
    {
        public required string System { get; init; }

        public required string TargetKind { get; init; }

        public int Watchers { get; init; }

        public int Opened { get; init; }

        public int OpenFailures { get; init; }

        public double OpenSeconds { get; init; }

        public double OpenP99Ms { get; init; }

        public long RssBeforeBytes { get; init; }

        public long RssIdleBytes { get; init; }

        public double BytesPerIdleWatcher { get; init; }

        public double ProxyBytesPerIdleWatcher { get; init; }

        public long WritesSent { get; init; }

        public long WritesAcknowledged { get; init; }

        public long WritesFailed { get; init; }

        public double WriteP99Ms { get; init; }

        public long EventsExpected { get; init; }

        public long EventsDelivered { get; init; }

        public long EventsMissing { get; init; }

        public int StreamsMissingEvents { get; init; }

        public long Duplicates { get; init; }

        public long EventsForFailedWrites { get; init; }

        public long EventsBeforeAck { get; init; }

        public double EventsPerSecond { get; init; }

        public required Percentiles FromAck { get; init; }

        public required Percentiles FromSend { get; init; }

        public double ClientCpuPercent { get; init; }

        public double ServerCpuPercent { get; init; }

        public double LoadAverage { get; init; }

        public required IReadOnlyDictionary<string, long> Errors { get; init; }

        public required IReadOnlyList<string> Examples { get; init; }

        /// <summary>Latency after the acknowledgement per target the streams connected to (leader and followers differ).</summary>
        public required IReadOnlyDictionary<string, Percentiles> ByTarget { get; init; }
    }

    /// <summary>One open stream: its receipts are written only by its own read loop.</summary>
    private sealed class WatchStream(int index, Uri target)
    {
        public int Index { get; } = index;

        public Uri Target { get; } = target;

        public TaskCompletionSource Opened { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public HttpResponseMessage? Response { get; set; }

        public Task? Loop { get; set; }

        public bool ErrorEvent { get; set; }

        public long Duplicates;
    }

    private sealed class Run(BenchOptions options, int slots)
    {
        public BenchOptions Options { get; } = options;

        /// <summary>Sequence numbers 1..<see cref="Slots"/>−1.</summary>
        public int Slots { get; } = slots;

        /// <summary>[stream × Slots + seq]: Stopwatch timestamp of the first receipt (0 = not received).</summary>
        public long[] Receipts { get; } = new long[(long)options.Watchers * slots];

        public long[] SendTicks { get; } = new long[slots];

        public long[] AckTicks { get; } = new long[slots];

        public long Received;

        public ConcurrentDictionary<string, long> Errors { get; } = new(StringComparer.Ordinal);

        public bool Stopping;

        public void Error(string kind) => Errors.AddOrUpdate(kind, 1, (_, n) => n + 1);
    }

    /// <summary>Runs the scenario and prints one summary line (and the JSON file when asked).</summary>
    public static async Task<WatchResult> RunAsync(BenchOptions options, TextWriter output, CancellationToken token)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(output);
        options.Validate();
        var load = LoadAverage();
        var writes = (int)Math.Ceiling(options.WriteRate * options.Duration.TotalSeconds);
        var run = new Run(options, writes + 1);
        var system = options.System == BenchSystem.Etcd ? "etcd" : "aspirecache";
        var kind = options.TargetKind ?? (options.Targets.Count == 1 ? "single" : $"spread/{options.Targets.Count}");

        using var watchHandler = CreateStreamingHandler();
        using var watchHttp = BenchRunner.CreateHttpClient(watchHandler, Timeout.InfiniteTimeSpan);
        using var writeHandler = BenchRunner.CreateHandler(options);
        using var writeHttp = BenchRunner.CreateHttpClient(writeHandler, options.RequestTimeout);
        BenchRunner.Authorize(watchHttp, options); // AspireCache runs only: etcd's streams and writes never carry it
        BenchRunner.Authorize(writeHttp, options);
        using var retries = new ClientRetries();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(token);
        var library = options.System == BenchSystem.AspireCache && options.EffectiveWatchClient == ClientKind.Library
            ? options.Targets.Distinct().ToDictionary(t => t, t => (IAspireCacheClient)new AspireCacheClient(BenchRunner.CreateHttpClient(watchHandler, Timeout.InfiniteTimeSpan, t), new AspireCacheClientOptions { Credential = options.AspireCacheCredential }))
            : null;
        var streams = new WatchStream[options.Watchers];
        for (var i = 0; i < streams.Length; i++)
        {
            streams[i] = new WatchStream(i, options.Targets[i % options.Targets.Count]);
        }

        // 1. Open the streams (bounded parallelism), each counted open at its first progress / created message.
        var rssBefore = Rss(options.Pids);
        var proxyBefore = Rss(options.ProxyPids);
        var openMs = new double[streams.Length];
        var openClock = Stopwatch.StartNew();
        await Parallel.ForEachAsync(
            streams,
            new ParallelOptions { MaxDegreeOfParallelism = options.OpenParallelism, CancellationToken = token },
            async (s, ct) => openMs[s.Index] = library is null
                ? await OpenAsync(run, watchHttp, s, stop.Token, ct)
                : await OpenLibraryAsync(run, library[s.Target], s, stop.Token, ct));
        var openSeconds = openClock.Elapsed.TotalSeconds;
        var opened = streams.Count(s => s.Opened.Task.IsCompletedSuccessfully);
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"opened {opened}/{streams.Length} {system} watch streams ({kind}) in {openSeconds:0.00} s"));

        // 2. Idle memory per stream.
        await Task.Delay(options.IdleSettle, token);
        var rssIdle = Rss(options.Pids);
        var proxyIdle = Rss(options.ProxyPids);

        // 3. Fixed-rate writes; the streams record receipts meanwhile.
        var cpuBefore = Process.GetCurrentProcess().TotalProcessorTime;
        var serverCpuBefore = CpuTicks(options.Pids);
        var writeClock = Stopwatch.StartNew();
        var writeLatencies = await WriteAsync(run, writeHandler, writeHttp, writes, token);
        var writerEnd = writeClock.Elapsed;
        var acked = 0L;
        for (var seq = 1; seq <= writes; seq++)
        {
            acked += run.AckTicks[seq] != 0 ? 1 : 0;
        }

        // 4. Wait for the stragglers (until everything expected arrived, or the drain time is up).
        var expectedOpen = acked * opened;
        var drainEnd = Stopwatch.GetTimestamp() + (long)(options.DrainTimeout.TotalSeconds * Stopwatch.Frequency);
        while (Interlocked.Read(ref run.Received) < expectedOpen && Stopwatch.GetTimestamp() < drainEnd)
        {
            await Task.Delay(50, token);
        }

        var serverCpu = (CpuTicks(options.Pids) - serverCpuBefore) * 100.0 / TicksPerSecond / writeClock.Elapsed.TotalSeconds;
        var clientCpu = (Process.GetCurrentProcess().TotalProcessorTime - cpuBefore).TotalSeconds * 100 / writeClock.Elapsed.TotalSeconds;

        // 5. Close everything.
        Volatile.Write(ref run.Stopping, true);
        await stop.CancelAsync();
        foreach (var s in streams)
        {
            s.Response?.Dispose();
        }

        await Task.WhenAll(streams.Where(s => s.Loop is not null).Select(s => s.Loop!));

        // What AspireCache.Client did out of sight (writes retried, streams reopened) is reported with the errors.
        foreach (var (what, count) in retries.Snapshot())
        {
            run.Errors.AddOrUpdate("client: " + what, count, (_, n) => n + count);
        }

        var result = Analyse(run, streams, writes, acked);
        var final = new WatchResult
        {
            System = system,
            TargetKind = kind,
            Watchers = options.Watchers,
            Opened = opened,
            OpenFailures = streams.Length - opened,
            OpenSeconds = openSeconds,
            OpenP99Ms = Percentiles.At(openMs.Where((_, i) => streams[i].Opened.Task.IsCompletedSuccessfully).OrderBy(x => x).ToArray(), 0.99),
            RssBeforeBytes = rssBefore,
            RssIdleBytes = rssIdle,
            BytesPerIdleWatcher = opened == 0 ? 0 : (rssIdle - rssBefore) / (double)opened,
            ProxyBytesPerIdleWatcher = opened == 0 || options.ProxyPids.Count == 0 ? 0 : (proxyIdle - proxyBefore) / (double)opened,
            WritesSent = writes,
            WritesAcknowledged = acked,
            WritesFailed = writes - acked,
            WriteP99Ms = Percentiles.At(writeLatencies, 0.99),
            EventsExpected = acked * options.Watchers,
            EventsDelivered = result.Delivered,
            EventsMissing = acked * options.Watchers - result.Delivered,
            StreamsMissingEvents = result.StreamsMissing + (streams.Length - opened),
            Duplicates = streams.Sum(s => s.Duplicates),
            EventsForFailedWrites = result.ForFailed,
            EventsBeforeAck = result.BeforeAck,
            EventsPerSecond = result.LastReceipt == 0 ? 0 : result.Delivered / Math.Max(writerEnd.TotalSeconds, Seconds(result.LastReceipt - run.SendTicks[1])),
            FromAck = result.FromAck,
            FromSend = result.FromSend,
            ClientCpuPercent = clientCpu,
            ServerCpuPercent = serverCpu,
            LoadAverage = load,
            Errors = new SortedDictionary<string, long>(run.Errors, StringComparer.Ordinal),
            Examples = result.Examples,
            ByTarget = result.ByTarget,
        };

        WriteLine(final, output);
        if (options.JsonPath is { } path)
        {
            await WriteJsonAsync(final, options, path, token);
            output.WriteLine($"json: {path}");
        }

        return final;
    }

    private sealed record Analysis(long Delivered, int StreamsMissing, long ForFailed, long BeforeAck, long LastReceipt, Percentiles FromAck, Percentiles FromSend, List<string> Examples, Dictionary<string, Percentiles> ByTarget);

    private static Analysis Analyse(Run run, WatchStream[] streams, int writes, long acked)
    {
        var fromAck = new List<double>((int)Math.Min(int.MaxValue, acked * streams.Length));
        var fromSend = new List<double>(fromAck.Capacity);
        long delivered = 0, forFailed = 0, beforeAck = 0, last = 0;
        var streamsMissing = 0;
        var examples = new List<string>();
        var perTarget = new Dictionary<string, List<double>>(StringComparer.Ordinal);
        foreach (var s in streams)
        {
            var key = s.Target.ToString();
            if (!perTarget.TryGetValue(key, out var targetLatencies))
            {
                perTarget[key] = targetLatencies = [];
            }

            var missing = 0;
            var firstMissing = 0;
            var baseIndex = (long)s.Index * run.Slots;
            for (var seq = 1; seq <= writes; seq++)
            {
                var at = run.Receipts[baseIndex + seq];
                var ack = run.AckTicks[seq];
                if (ack == 0)
                {
                    forFailed += at != 0 ? 1 : 0;
                    continue;
                }

                if (at == 0)
                {
                    missing++;
                    firstMissing = firstMissing == 0 ? seq : firstMissing;
                    continue;
                }

                delivered++;
                last = Math.Max(last, at);
                if (at < ack)
                {
                    beforeAck++;
                    fromAck.Add(0);
                    targetLatencies.Add(0);
                }
                else
                {
                    fromAck.Add(Seconds(at - ack) * 1000);
                    targetLatencies.Add(fromAck[^1]);
                }

                fromSend.Add(Seconds(at - run.SendTicks[seq]) * 1000);
            }

            if (missing > 0 && s.Opened.Task.IsCompletedSuccessfully)
            {
                streamsMissing++;
                if (examples.Count < 10)
                {
                    examples.Add(string.Create(CultureInfo.InvariantCulture, $"stream {s.Index} on {s.Target}: {missing} of {acked} acknowledged writes never arrived (first seq {firstMissing})"));
                }
            }
        }

        return new Analysis(delivered, streamsMissing, forFailed, beforeAck, last, Percentiles.Of(fromAck), Percentiles.Of(fromSend), examples, perTarget.ToDictionary(t => t.Key, t => Percentiles.Of(t.Value), StringComparer.Ordinal));
    }

    // ------------------------------------------------------------------------------------------
    // Streams
    // ------------------------------------------------------------------------------------------

    /// <summary>One connection per stream, never pooled away, no timeouts (a stream is idle for as long as the run waits).</summary>
    private static SocketsHttpHandler CreateStreamingHandler() =>
        BenchRunner.CreateHandler(int.MaxValue, Timeout.InfiniteTimeSpan, TimeSpan.FromSeconds(30));

    private static HttpRequestMessage WatchRequest(BenchOptions options, Uri target)
    {
        if (options.System == BenchSystem.Etcd)
        {
            var prefix = Encoding.UTF8.GetBytes(options.KeyPrefix);
            var end = (byte[])prefix.Clone();
            end[^1]++;
            var body = $"{{\"create_request\":{{\"key\":\"{Convert.ToBase64String(prefix)}\",\"range_end\":\"{Convert.ToBase64String(end)}\"}}}}";
            return new HttpRequestMessage(HttpMethod.Post, new Uri(target, "v3/watch"))
            {
                Content = new StringContent(body, new MediaTypeHeaderValue("application/json")),
            };
        }

        var request = new HttpRequestMessage(HttpMethod.Get, new Uri(target, "cache/watch?prefix=" + Uri.EscapeDataString(options.KeyPrefix)));
        request.Headers.Accept.ParseAdd("text/event-stream");
        return request;
    }

    /// <summary>Sends the watch request, starts the read loop and waits for the stream's first message; returns how long that took (ms).</summary>
    private static async Task<double> OpenAsync(Run run, HttpClient http, WatchStream s, CancellationToken stop, CancellationToken token)
    {
        var started = Stopwatch.GetTimestamp();
        try
        {
            using var request = WatchRequest(run.Options, s.Target);
            var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, stop);
            if (response.StatusCode != HttpStatusCode.OK)
            {
                var body = await response.Content.ReadAsStringAsync(token);
                run.Error($"open: HTTP {(int)response.StatusCode} {Shorten(body)}");
                response.Dispose();
                s.Opened.TrySetException(new InvalidOperationException("not opened"));
                return 0;
            }

            s.Response = response;
            s.Loop = Task.Run(() => ReadLoopAsync(run, s, response, stop), CancellationToken.None);
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(token);
            timeout.CancelAfter(TimeSpan.FromSeconds(30));
            await s.Opened.Task.WaitAsync(timeout.Token);
            return Seconds(Stopwatch.GetTimestamp() - started) * 1000;
        }
        catch (Exception ex) when (ex is HttpRequestException or IOException or OperationCanceledException or InvalidOperationException && !token.IsCancellationRequested)
        {
            if (!s.Opened.Task.IsCompleted)
            {
                run.Error("open: " + Describe(ex));
                s.Opened.TrySetException(ex);
            }

            return 0;
        }
    }

    /// <summary>
    /// <see cref="OpenAsync"/> with AspireCache.Client: the stream's <see cref="IAspireCacheClient.WatchAsync"/>
    /// is enumerated by its own loop; the stream counts as open at its first (progress) event.
    /// </summary>
    private static async Task<double> OpenLibraryAsync(Run run, IAspireCacheClient client, WatchStream s, CancellationToken stop, CancellationToken token)
    {
        var started = Stopwatch.GetTimestamp();
        s.Loop = Task.Run(() => LibraryLoopAsync(run, client, s, stop), CancellationToken.None);
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(token);
            timeout.CancelAfter(TimeSpan.FromSeconds(30));
            await s.Opened.Task.WaitAsync(timeout.Token);
            return Seconds(Stopwatch.GetTimestamp() - started) * 1000;
        }
        catch (Exception ex) when (ex is OperationCanceledException or InvalidOperationException && !token.IsCancellationRequested)
        {
            if (s.Opened.TrySetException(ex))
            {
                run.Error("open: " + Describe(ex));
            }

            return 0;
        }
    }

    /// <summary>
    /// The client's events as they are yielded (the receipt time includes the client's parsing). The client
    /// reconnects on its own with Last-Event-ID; those reconnects are counted by <see cref="ClientRetries"/>.
    /// </summary>
    private static async Task LibraryLoopAsync(Run run, IAspireCacheClient client, WatchStream s, CancellationToken stop)
    {
        var request = new Client.WatchRequest { Prefixes = [run.Options.KeyPrefix] };
        try
        {
            await foreach (var change in client.WatchAsync(request, stop))
            {
                var now = Stopwatch.GetTimestamp();
                switch (change.Type)
                {
                    case WatchEventType.Progress:
                        s.Opened.TrySetResult();
                        break;
                    case WatchEventType.Put when change.Value is { Length: >= 8 } value:
                        Receive(run, s, BinaryPrimitives.ReadInt64LittleEndian(value.Span), now);
                        break;
                    case WatchEventType.Resync:
                        run.Error("watch resync (410: history compacted)");
                        break;
                    default:
                        run.Error("event: unexpected " + change.Type);
                        break;
                }
            }

            if (!Volatile.Read(ref run.Stopping))
            {
                run.Error("stream ended");
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or AspireCacheException or IOException or HttpRequestException or ObjectDisposedException)
        {
            if (!Volatile.Read(ref run.Stopping))
            {
                run.Error((s.Opened.Task.IsCompleted ? "stream: " : "open: ") + (ex is AspireCacheException a ? Shorten(a.Message) : Describe(ex)));
            }
        }
        finally
        {
            s.Opened.TrySetException(new InvalidOperationException("the stream ended before its first message"));
        }
    }

    /// <summary>Reads lines as they come; only what is needed is parsed: the message kind and each event's sequence number.</summary>
    private static async Task ReadLoopAsync(Run run, WatchStream s, HttpResponseMessage response, CancellationToken stop)
    {
        var etcd = run.Options.System == BenchSystem.Etcd;
        var buffer = new byte[4096];
        int start = 0, end = 0;
        try
        {
            await using var body = await response.Content.ReadAsStreamAsync(stop);
            while (true)
            {
                if (end == buffer.Length)
                {
                    if (start > 0)
                    {
                        buffer.AsSpan(start, end - start).CopyTo(buffer);
                        end -= start;
                        start = 0;
                    }
                    else
                    {
                        Array.Resize(ref buffer, buffer.Length * 2);
                    }
                }

                var read = await body.ReadAsync(buffer.AsMemory(end), stop);
                if (read == 0)
                {
                    break;
                }

                var now = Stopwatch.GetTimestamp();
                end += read;
                int newline;
                while ((newline = buffer.AsSpan(start, end - start).IndexOf((byte)'\n')) >= 0)
                {
                    var line = buffer.AsSpan(start, newline);
                    start += newline + 1;
                    if (etcd)
                    {
                        EtcdLine(run, s, line, now);
                    }
                    else
                    {
                        SseLine(run, s, line, now);
                    }
                }

                if (start == end)
                {
                    start = end = 0;
                }
            }

            if (!Volatile.Read(ref run.Stopping))
            {
                run.Error(s.Opened.Task.IsCompleted ? "stream ended by the server" : "stream ended before its first message");
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException or HttpRequestException or ObjectDisposedException)
        {
            if (!Volatile.Read(ref run.Stopping))
            {
                run.Error("stream: " + Describe(ex));
            }
        }
        finally
        {
            s.Opened.TrySetException(new InvalidOperationException("the stream ended before its first message"));
        }
    }

    /// <summary>Server-Sent Events: <c>event:</c>, <c>data:</c>, <c>id:</c>, comments (<c>:</c>) and blank lines.</summary>
    private static void SseLine(Run run, WatchStream s, ReadOnlySpan<byte> line, long now)
    {
        if (line.IsEmpty || line[0] == (byte)':' || line.StartsWith("id:"u8))
        {
            return;
        }

        if (line.StartsWith("event:"u8))
        {
            var type = line[6..].TrimStart((byte)' ');
            if (type.SequenceEqual("progress"u8))
            {
                s.Opened.TrySetResult();
            }
            else if (type.SequenceEqual("error"u8))
            {
                s.ErrorEvent = true;
            }

            return;
        }

        if (line.StartsWith("data:"u8))
        {
            if (s.ErrorEvent)
            {
                s.ErrorEvent = false;
                run.Error("event: error " + Shorten(Encoding.UTF8.GetString(line[5..])));
                return;
            }

            FindValues(run, s, line, now);
        }
    }

    /// <summary>etcd gateway: one JSON object per line; <c>"created":true</c> first, then results with events (or an error).</summary>
    private static void EtcdLine(Run run, WatchStream s, ReadOnlySpan<byte> line, long now)
    {
        if (line.IsEmpty)
        {
            return;
        }

        if (line.StartsWith("{\"error\""u8) || line.IndexOf("\"canceled\":true"u8) >= 0)
        {
            run.Error("etcd: " + Shorten(Encoding.UTF8.GetString(line)));
            return;
        }

        if (!s.Opened.Task.IsCompleted && line.IndexOf("\"created\":true"u8) >= 0)
        {
            s.Opened.TrySetResult();
        }

        FindValues(run, s, line, now);
    }

    /// <summary>Every <c>"value":"...</c> in the line: its first 12 base64 characters hold the 8-byte sequence number.</summary>
    private static void FindValues(Run run, WatchStream s, ReadOnlySpan<byte> line, long now)
    {
        Span<byte> decoded = stackalloc byte[9];
        int at;
        while ((at = line.IndexOf(ValueField)) >= 0)
        {
            line = line[(at + ValueField.Length)..];
            if (line.Length < 12 || Base64.DecodeFromUtf8(line[..12], decoded, out _, out var written) != System.Buffers.OperationStatus.Done || written < 8)
            {
                run.Error("event value not decodable");
                continue;
            }

            Receive(run, s, BinaryPrimitives.ReadInt64LittleEndian(decoded), now);
        }
    }

    /// <summary>Records that <paramref name="seq"/> reached stream <paramref name="s"/> at <paramref name="now"/> (first receipt only).</summary>
    private static void Receive(Run run, WatchStream s, long seq, long now)
    {
        if (seq <= 0 || seq >= run.Slots)
        {
            run.Error("event with an unknown sequence number");
            return;
        }

        ref var slot = ref run.Receipts[((long)s.Index * run.Slots) + seq];
        if (slot != 0)
        {
            s.Duplicates++;
            return;
        }

        slot = now;
        Interlocked.Increment(ref run.Received);
    }

    // ------------------------------------------------------------------------------------------
    // Writer
    // ------------------------------------------------------------------------------------------

    /// <summary>Open loop: write <c>seq</c> is sent at start + (seq−1)/rate whatever earlier writes are doing. Returns write latencies (ms).</summary>
    private static async Task<double[]> WriteAsync(Run run, HttpMessageHandler handler, HttpClient http, int writes, CancellationToken token)
    {
        var o = run.Options;
        var keys = BenchRunner.BuildKeys(o.KeyPrefix, 16);
        var targets = new List<Uri> { o.WriteTarget ?? o.Targets[0] };
        var client = KvClient.Create(o, targets, handler, http, keys, linearizable: true);
        var latencies = new double[writes];
        var tasks = new Task[writes];
        var start = Stopwatch.GetTimestamp();
        for (var seq = 1; seq <= writes; seq++)
        {
            var due = start + (long)((seq - 1) * Stopwatch.Frequency / o.WriteRate);
            var wait = Seconds(due - Stopwatch.GetTimestamp());
            if (wait > 0)
            {
                await Task.Delay(TimeSpan.FromSeconds(wait), token);
            }

            tasks[seq - 1] = WriteOneAsync(run, client, keys.Length, seq, latencies, token);
        }

        await Task.WhenAll(tasks);
        var ok = latencies.Where((_, i) => run.AckTicks[i + 1] != 0).ToArray();
        Array.Sort(ok);
        return ok;
    }

    private static async Task WriteOneAsync(Run run, KvClient client, int keyCount, int seq, double[] latencies, CancellationToken token)
    {
        var worker = new WorkerContext(seq, 0, seq, run.Options.ValueSize);
        worker.Value.AsSpan().Fill((byte)'x');
        BinaryPrimitives.WriteInt64LittleEndian(worker.Value, seq);
        run.SendTicks[seq] = Stopwatch.GetTimestamp();
        var result = await client.PutAsync(worker, seq % keyCount, worker.Value, token);
        var done = Stopwatch.GetTimestamp();
        if (result.Status == OpStatus.Ok)
        {
            Volatile.Write(ref run.AckTicks[seq], done);
            latencies[seq - 1] = Seconds(done - run.SendTicks[seq]) * 1000;
        }
        else
        {
            run.Error("write: " + result.Error);
        }
    }

    // ------------------------------------------------------------------------------------------
    // Servers: memory and CPU from /proc
    // ------------------------------------------------------------------------------------------

    private const double TicksPerSecond = 100; // USER_HZ

    /// <summary>Sum of VmRSS over the processes (bytes); a process that is gone counts 0.</summary>
    internal static long Rss(IEnumerable<int> pids)
    {
        long total = 0;
        foreach (var pid in pids)
        {
            try
            {
                foreach (var line in File.ReadLines($"/proc/{pid}/status"))
                {
                    if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                    {
                        var kb = line["VmRSS:".Length..].Trim().Split(' ')[0];
                        total += long.Parse(kb, CultureInfo.InvariantCulture) * 1024;
                        break;
                    }
                }
            }
            catch (IOException)
            {
            }
        }

        return total;
    }

    /// <summary>utime + stime (clock ticks) summed over the processes.</summary>
    internal static long CpuTicks(IEnumerable<int> pids)
    {
        long total = 0;
        foreach (var pid in pids)
        {
            try
            {
                var stat = File.ReadAllText($"/proc/{pid}/stat");
                var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                total += long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
            }
            catch (IOException)
            {
            }
        }

        return total;
    }

    internal static double LoadAverage()
    {
        try
        {
            return double.Parse(File.ReadAllText("/proc/loadavg").Split(' ')[0], CultureInfo.InvariantCulture);
        }
        catch (IOException)
        {
            return -1;
        }
    }

    // ------------------------------------------------------------------------------------------
    // Output
    // ------------------------------------------------------------------------------------------

    private static double Seconds(long ticks) => ticks / (double)Stopwatch.Frequency;

    private static string Describe(Exception ex) => ex switch
    {
        HttpRequestException h when h.HttpRequestError != HttpRequestError.Unknown => "HttpRequestException:" + h.HttpRequestError,
        OperationCanceledException => "timeout",
        _ when ex.InnerException is { } inner => ex.GetType().Name + ":" + inner.GetType().Name,
        _ => ex.GetType().Name,
    };

    private static string Shorten(string text)
    {
        text = text.ReplaceLineEndings(" ").Trim();
        return text.Length > 160 ? text[..160] : text;
    }

    /// <summary>The one-line summary of a run (plus errors and examples of missing events, when there are any).</summary>
    public static void WriteLine(WatchResult r, TextWriter output)
    {
        ArgumentNullException.ThrowIfNull(r);
        ArgumentNullException.ThrowIfNull(output);
        var inv = CultureInfo.InvariantCulture;
        var proxy = r.ProxyBytesPerIdleWatcher != 0 ? string.Create(inv, $" (+router {r.ProxyBytesPerIdleWatcher:0})") : "";
        output.WriteLine(
            string.Create(inv, $"watch system={r.System} watchers={r.Watchers} path={r.TargetKind} opened={r.Opened} open={r.OpenSeconds:0.00}s ") +
            string.Create(inv, $"writes-acked={r.WritesAcknowledged}/{r.WritesSent} events={r.EventsDelivered}/{r.EventsExpected} missing={r.EventsMissing} dup={r.Duplicates} ") +
            string.Create(inv, $"events/s={r.EventsPerSecond:0} latency-ms(after ack) p50={r.FromAck.P50Ms:0.00} p99={r.FromAck.P99Ms:0.00} max={r.FromAck.MaxMs:0.00} ") +
            string.Create(inv, $"(after send p50={r.FromSend.P50Ms:0.00} p99={r.FromSend.P99Ms:0.00} max={r.FromSend.MaxMs:0.00}; before-ack={r.EventsBeforeAck}; write p99={r.WriteP99Ms:0.00}) ") +
            string.Create(inv, $"bytes/idle-watcher={r.BytesPerIdleWatcher:0}{proxy} cpu client={r.ClientCpuPercent:0}% servers={r.ServerCpuPercent:0}% load={r.LoadAverage:0.00} errors={r.Errors.Values.Sum()}"));
        foreach (var (kind, count) in r.Errors.OrderByDescending(e => e.Value))
        {
            output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  error {count,8}  {kind}"));
        }

        if (r.ByTarget.Count > 1)
        {
            foreach (var (target, p) in r.ByTarget)
            {
                output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  via {target}: {p.Count} events, latency-ms(after ack) p50={p.P50Ms:0.00} p99={p.P99Ms:0.00} max={p.MaxMs:0.00}"));
            }
        }

        foreach (var example in r.Examples)
        {
            output.WriteLine("  missing: " + example);
        }
    }

    private static async Task WriteJsonAsync(WatchResult r, BenchOptions o, string path, CancellationToken token)
    {
        var directory = Path.GetDirectoryName(Path.GetFullPath(path));
        if (!string.IsNullOrEmpty(directory))
        {
            Directory.CreateDirectory(directory);
        }

        await using var stream = File.Create(path);
        await using var json = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true });
        json.WriteStartObject();
        if (o.Label is not null)
        {
            json.WriteString("label", o.Label);
        }

        json.WriteString("system", r.System);
        json.WriteString("path", r.TargetKind);
        json.WriteStartArray("targets");
        foreach (var t in o.Targets)
        {
            json.WriteStringValue(t.ToString());
        }

        json.WriteEndArray();
        json.WriteString("writeTarget", (o.WriteTarget ?? o.Targets[0]).ToString());
        json.WriteNumber("watchers", r.Watchers);
        json.WriteNumber("opened", r.Opened);
        json.WriteNumber("openFailures", r.OpenFailures);
        json.WriteNumber("openSeconds", Round(r.OpenSeconds));
        json.WriteNumber("openP99Ms", Round(r.OpenP99Ms));
        json.WriteNumber("writeRate", o.WriteRate);
        json.WriteNumber("durationSeconds", o.Duration.TotalSeconds);
        json.WriteNumber("valueSize", o.ValueSize);
        json.WriteNumber("writesSent", r.WritesSent);
        json.WriteNumber("writesAcknowledged", r.WritesAcknowledged);
        json.WriteNumber("writesFailed", r.WritesFailed);
        json.WriteNumber("writeP99Ms", Round(r.WriteP99Ms));
        json.WriteNumber("eventsExpected", r.EventsExpected);
        json.WriteNumber("eventsDelivered", r.EventsDelivered);
        json.WriteNumber("eventsMissing", r.EventsMissing);
        json.WriteNumber("streamsMissingEvents", r.StreamsMissingEvents);
        json.WriteNumber("duplicates", r.Duplicates);
        json.WriteNumber("eventsForFailedWrites", r.EventsForFailedWrites);
        json.WriteNumber("eventsBeforeAck", r.EventsBeforeAck);
        json.WriteNumber("eventsPerSecond", Round(r.EventsPerSecond));
        WritePercentiles(json, "latencyAfterAck", r.FromAck);
        WritePercentiles(json, "latencyAfterSend", r.FromSend);
        json.WriteNumber("rssBeforeBytes", r.RssBeforeBytes);
        json.WriteNumber("rssIdleBytes", r.RssIdleBytes);
        json.WriteNumber("bytesPerIdleWatcher", Round(r.BytesPerIdleWatcher));
        json.WriteNumber("proxyBytesPerIdleWatcher", Round(r.ProxyBytesPerIdleWatcher));
        json.WriteNumber("clientCpuPercent", Round(r.ClientCpuPercent));
        json.WriteNumber("serverCpuPercent", Round(r.ServerCpuPercent));
        json.WriteNumber("loadAverage1m", r.LoadAverage);
        json.WriteStartObject("errors");
        foreach (var (kind, count) in r.Errors)
        {
            json.WriteNumber(kind, count);
        }

        json.WriteEndObject();
        json.WriteStartObject("latencyAfterAckByTarget");
        foreach (var (target, p) in r.ByTarget)
        {
            WritePercentiles(json, target, p);
        }

        json.WriteEndObject();
        json.WriteStartArray("missingExamples");
        foreach (var e in r.Examples)
        {
            json.WriteStringValue(e);
        }

        json.WriteEndArray();
        json.WriteEndObject();
        await json.FlushAsync(token);
    }

    private static void WritePercentiles(Utf8JsonWriter json, string name, Percentiles p)
    {
        json.WriteStartObject(name);
        json.WriteNumber("count", p.Count);
        json.WriteNumber("p50Ms", Round(p.P50Ms));
        json.WriteNumber("p90Ms", Round(p.P90Ms));
        json.WriteNumber("p99Ms", Round(p.P99Ms));
        json.WriteNumber("p999Ms", Round(p.P999Ms));
        json.WriteNumber("maxMs", Round(p.MaxMs));
        json.WriteEndObject();
    }

    private static double Round(double value) => Math.Round(value, 3);
}
