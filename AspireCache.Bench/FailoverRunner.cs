using System.Buffers.Binary;
using System.Diagnostics;
using System.Globalization;

namespace AspireCache.Bench;

/// <summary>
/// Failover mode. Writers each own a slice of the keys and overwrite them in turn with values that carry
/// (writer, sequence); a write counts as acknowledged only on 2xx. Readers do linearizable reads of keys
/// already written and flag a read older than a write acknowledged before the read began. At the end every
/// written key is read back: its value must be the last acknowledged one (or a later write whose outcome was
/// unknown). Gaps are the longest stretches between successful writes / reads (or from the last one to the end).
/// </summary>
internal static class FailoverRunner
{
    private const int SeqOffset = 0;
    private const int WriterOffset = 8;

    public static async Task<BenchResult> RunAsync(BenchOptions options, HttpMessageHandler handler, HttpClient http, ClientRetries retries, TextWriter progress, CancellationToken token)
    {
        var connections = options.Connections;
        var writers = options.MixSpecified
            ? (int)Math.Round(connections * (1 - options.ReadFraction))
            : connections / 2;
        writers = Math.Clamp(writers, 1, connections - 1);
        var readers = connections - writers;
        var keysPerWriter = Math.Max(1, options.Keys / writers);
        var runId = DateTimeOffset.UtcNow.ToUnixTimeSeconds().ToString("x", CultureInfo.InvariantCulture);

        var keys = new string[writers * keysPerWriter];
        for (var w = 0; w < writers; w++)
        {
            for (var j = 0; j < keysPerWriter; j++)
            {
                keys[(w * keysPerWriter) + j] = string.Create(CultureInfo.InvariantCulture, $"{options.KeyPrefix}failover-{runId}/w{w}/{j:D6}");
            }
        }

        // Raw HTTP by default (BenchOptions.EffectiveClient): every failed attempt is reported by kind.
        var client = KvClient.Create(options, handler, http, keys, linearizable: true);
        var retriesStart = retries.Snapshot();
        var state = new State(keys.Length, writers, keysPerWriter, options.EffectiveErrorBackoff);
        var contexts = BenchRunner.CreateWorkers(options, connections);
        var stats = new WorkerStats[connections];
        for (var i = 0; i < connections; i++)
        {
            stats[i] = new WorkerStats();
        }

        progress.WriteLine($"# {options.Label ?? "failover"}: {options.Describe()}");
        progress.WriteLine(string.Create(
            CultureInfo.InvariantCulture,
            $"# failover: {writers} writers x {keysPerWriter} keys, {readers} linearizable readers, run id {runId}"));

        using var stopProgress = CancellationTokenSource.CreateLinkedTokenSource(token);
        var clock = Stopwatch.StartNew();
        var startTimestamp = Stopwatch.GetTimestamp();
        var startUnixMs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        var cpuStart = BenchRunner.CpuTime();
        var progressTask = BenchRunner.ProgressAsync(progress, options.ProgressInterval, clock, state.Counters, () => "failover", stopProgress.Token);

        var tasks = new Task[connections];
        for (var i = 0; i < connections; i++)
        {
            var w = contexts[i];
            Array.Clear(w.Value);
            tasks[i] = i < writers
                ? state.WriterAsync(client, w, i, stats[i], token)
                : state.ReaderAsync(client, w, stats[i], token);
        }

        await BenchRunner.DelayAsync(options.Duration, token);
        Volatile.Write(ref state.Phase, BenchRunner.Stopped);
        var endTimestamp = Stopwatch.GetTimestamp();
        var elapsed = Stopwatch.GetElapsedTime(startTimestamp, endTimestamp).TotalSeconds;
        var cpuPercent = (BenchRunner.CpuTime() - cpuStart).TotalSeconds / elapsed * 100;
        await Task.WhenAll(tasks);
        await stopProgress.CancelAsync();
        await progressTask;

        var retriesMeasured = ClientRetries.Since(retriesStart, retries.Snapshot());
        var writeGap = LongestGap(stats.Take(writers), startTimestamp, endTimestamp);
        var readGap = LongestGap(stats.Skip(writers), startTimestamp, endTimestamp);

        progress.WriteLine("verifying every written key with linearizable reads...");
        var verify = await state.VerifyAsync(client, contexts, options.VerifyTimeout, token);

        var examples = state.Examples.ToList();
        examples.AddRange(verify.Examples);

        return Stats.ToResult(options, elapsed, stats, cpuPercent, clientRetries: retriesMeasured, failover: (reads, writes) => new FailoverReport
        {
            Writers = writers,
            Readers = readers,
            WritesAcknowledged = writes.Count,
            WritesFailed = writes.Errors,
            ReadsSucceeded = reads.Count,
            ReadsFailed = reads.Errors,
            LongestWriteGapMs = writeGap.Ms,
            LongestWriteGapStartSeconds = writeGap.StartSeconds,
            LongestWriteGapStartUnixMs = startUnixMs + (long)(writeGap.StartSeconds * 1000),
            LongestReadGapMs = readGap.Ms,
            LongestReadGapStartSeconds = readGap.StartSeconds,
            LongestReadGapStartUnixMs = startUnixMs + (long)(readGap.StartSeconds * 1000),
            StaleReads = Interlocked.Read(ref state.StaleReads),
            KeysVerified = verify.Verified,
            LostWrites = verify.Lost,
            UnacknowledgedWritesApplied = verify.UnacknowledgedApplied,
            KeysUnverified = verify.Unverified,
            VerifySeconds = verify.Seconds,
            Examples = examples.Take(20).ToList(),
        });
    }

    /// <summary>
    /// Longest interval between two successful completions, or from the last one to the run's end (a
    /// cluster that never recovers); the whole run when none succeeded. The stretch from the run's start to
    /// its first success is not a gap between acknowledged operations: it is the cold start of the tool's
    /// connections and the cluster's first requests, and it used to hide the failover's own gap.
    /// </summary>
    private static (double Ms, double StartSeconds) LongestGap(IEnumerable<WorkerStats> workers, long start, long end)
    {
        var all = new List<long>();
        foreach (var w in workers)
        {
            all.AddRange(w.SuccessTimestamps);
        }

        all.Sort();
        var previous = all.Count > 0 ? all[0] : start;
        long bestStart = start, best = 0;
        foreach (var t in all)
        {
            if (t - previous > best)
            {
                best = t - previous;
                bestStart = previous;
            }

            previous = Math.Max(previous, t);
        }

        if (end - previous > best)
        {
            best = end - previous;
            bestStart = previous;
        }

        return (best * 1000.0 / Stopwatch.Frequency, (bestStart - start) / (double)Stopwatch.Frequency);
    }

    private sealed class State(int keyCount, int writers, int keysPerWriter, TimeSpan backoff)
    {
        public int Phase = BenchRunner.Measuring;
        public long StaleReads;

        public LiveCounters Counters { get; } = new();

        /// <summary>Per key: sequence of the last acknowledged write (0: none). Written by the owning writer only.</summary>
        private readonly long[] _acked = new long[keyCount];

        /// <summary>Per key: sequence of the last attempted write.</summary>
        private readonly long[] _attempted = new long[keyCount];

        /// <summary>Per key: a write whose outcome is unknown (failed) happened after the last acknowledged one.</summary>
        private readonly bool[] _unknownAfterAck = new bool[keyCount];

        /// <summary>Per writer: how many of its keys have been written at least once (they are written in order).</summary>
        private readonly int[] _touched = new int[writers];

        private readonly Lock _examplesLock = new();

        public List<string> Examples { get; } = [];

        public async Task WriterAsync(KvClient client, WorkerContext worker, int writer, WorkerStats stats, CancellationToken token)
        {
            await Task.Yield();
            long seq = 0;
            var j = -1;
            var value = worker.Value;
            BinaryPrimitives.WriteInt32LittleEndian(value.AsSpan(WriterOffset), writer);
            try
            {
                while (Volatile.Read(ref Phase) != BenchRunner.Stopped)
                {
                    j = (j + 1) % keysPerWriter;
                    var key = (writer * keysPerWriter) + j;
                    seq++;
                    BinaryPrimitives.WriteInt64LittleEndian(value.AsSpan(SeqOffset), seq);
                    _attempted[key] = seq;
                    if (_touched[writer] < j + 1)
                    {
                        Volatile.Write(ref _touched[writer], j + 1);
                    }

                    var start = Stopwatch.GetTimestamp();
                    var result = await client.PutAsync(worker, key, value, token);
                    var end = Stopwatch.GetTimestamp();
                    Interlocked.Increment(ref Counters.Completed);
                    if (result.Status == OpStatus.Ok)
                    {
                        Volatile.Write(ref _acked[key], seq);
                        _unknownAfterAck[key] = false;
                        stats.Writes.Record(start, end, OpStatus.Ok);
                        stats.SuccessTimestamps.Add(end);
                        Interlocked.Increment(ref Counters.Writes);
                    }
                    else
                    {
                        _unknownAfterAck[key] = true;
                        stats.Error(result.Error ?? "write: unexpected 404", stats.Writes);
                        Interlocked.Increment(ref Counters.Errors);
                        await Task.Delay(backoff, token);
                    }
                }
            }
            catch (OperationCanceledException) when (token.IsCancellationRequested)
            {
            }
        }

        public async Task ReaderAsync(KvClient client, WorkerContext worker, WorkerStats stats, CancellationToken token)
        {
            await Task.Yield();
            try
            {
                while (Volatile.Read(ref Phase) != BenchRunner.Stopped)
                {
                    var writer = worker.Random.Next(writers);
                    var touched = Volatile.Read(ref _touched[writer]);
                    var key = (writer * keysPerWriter) + worker.Random.Next(touched > 0 ? touched : keysPerWriter);
                    var before = Volatile.Read(ref _acked[key]);

                    var start = Stopwatch.GetTimestamp();
                    var result = await client.GetAsync(worker, key, token);
                    var end = Stopwatch.GetTimestamp();
                    Interlocked.Increment(ref Counters.Completed);
                    if (result.Status == OpStatus.Error)
                    {
                        stats.Error(result.Error!, stats.Reads);
                        Interlocked.Increment(ref Counters.Errors);
                        await Task.Delay(backoff, token);
                        continue;
                    }

                    stats.Reads.Record(start, end, result.Status);
                    stats.SuccessTimestamps.Add(end);
                    Interlocked.Increment(ref Counters.Reads);
                    var seen = result.Status == OpStatus.Ok ? Sequence(result.Value.Span) : 0;
                    if (seen < before)
                    {
                        Interlocked.Increment(ref StaleReads);
                        Example($"stale read: key {key} returned seq {seen}, but seq {before} was acknowledged before the read started");
                    }
                }
            }
            catch (OperationCanceledException) when (token.IsCancellationRequested)
            {
            }
        }

        public async Task<(long Verified, long Lost, long UnacknowledgedApplied, long Unverified, double Seconds, List<string> Examples)> VerifyAsync(
            KvClient client, WorkerContext[] workers, TimeSpan timeout, CancellationToken token)
        {
            var clock = Stopwatch.StartNew();
            var deadline = clock.Elapsed + timeout;
            var next = -1;
            long verified = 0, lost = 0, unackApplied = 0, unverified = 0;
            var examples = new List<string>();
            var examplesLock = new Lock();

            async Task Worker(WorkerContext w)
            {
                await Task.Yield();
                int key;
                while ((key = Interlocked.Increment(ref next)) < _attempted.Length)
                {
                    if (_attempted[key] == 0)
                    {
                        continue;
                    }

                    var acked = _acked[key];
                    while (true)
                    {
                        var result = await client.GetAsync(w, key, token);
                        if (result.Status == OpStatus.Error)
                        {
                            if (clock.Elapsed > deadline)
                            {
                                Interlocked.Increment(ref unverified);
                                break;
                            }

                            await Task.Delay(100, token);
                            continue;
                        }

                        Interlocked.Increment(ref verified);
                        var seen = result.Status == OpStatus.Ok ? Sequence(result.Value.Span) : 0;
                        if (seen < acked)
                        {
                            Interlocked.Increment(ref lost);
                            lock (examplesLock)
                            {
                                if (examples.Count < 10)
                                {
                                    examples.Add(seen == 0
                                        ? $"lost write: key {key} is missing, seq {acked} was acknowledged"
                                        : $"lost write: key {key} has seq {seen}, seq {acked} was acknowledged");
                                }
                            }
                        }
                        else if (seen > acked)
                        {
                            // Only a write that failed after the last acknowledged one may show up here.
                            Interlocked.Increment(ref unackApplied);
                            if (!_unknownAfterAck[key] || seen > _attempted[key])
                            {
                                lock (examplesLock)
                                {
                                    examples.Add($"phantom value: key {key} has seq {seen}, last attempted {_attempted[key]}, acknowledged {acked}");
                                }
                            }
                        }

                        break;
                    }
                }
            }

            var tasks = new Task[workers.Length];
            for (var i = 0; i < workers.Length; i++)
            {
                tasks[i] = Worker(workers[i]);
            }

            await Task.WhenAll(tasks);
            return (verified, lost, unackApplied, unverified, clock.Elapsed.TotalSeconds, examples);
        }

        private static long Sequence(ReadOnlySpan<byte> value) =>
            value.Length >= WriterOffset + 4 ? BinaryPrimitives.ReadInt64LittleEndian(value[SeqOffset..]) : -1;

        private void Example(string text)
        {
            lock (_examplesLock)
            {
                if (Examples.Count < 10)
                {
                    Examples.Add(text);
                }
            }
        }
    }
}
