// Raft transport probe: one Raft member per process, DotNext 6.12 over HTTP (Kestrel + DotNext.AspNetCore.Cluster)
// or over DotNext's own TCP transport (RaftCluster.TcpConfiguration). Same WriteAheadLog + trivial state machine.
// The member that wins the election drives the load (64 proposers, ReplicateAsync each) and measures
// CPU and context switches of all three processes from /proc.
using System.Buffers;
using System.Buffers.Binary;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Globalization;
using System.Net;
using DotNext.Net.Cluster.Consensus.Raft;
using DotNext.Net.Cluster.Consensus.Raft.Http;
using DotNext.Net.Cluster.Consensus.Raft.Membership;
using DotNext.Net.Cluster.Consensus.Raft.StateMachine;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets;

namespace Probe;

internal sealed record Settings(
    string Transport, int Id, int[] Ports, string RunDir, double WarmupS, double WarmupMaxS, double DurationS,
    int Proposers, int PayloadBytes, int LowerMs, int UpperMs, int ClkTck, int WalPageBytes)
{
    public static Settings Parse(string[] args)
    {
        var d = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        for (var i = 0; i + 1 < args.Length; i += 2)
        {
            d[args[i].TrimStart('-')] = args[i + 1];
        }

        string Get(string k, string def) => d.TryGetValue(k, out var v) ? v : def;
        return new Settings(
            Get("transport", "tcp").ToLowerInvariant(),
            int.Parse(Get("id", "0"), CultureInfo.InvariantCulture),
            Get("ports", "37101,37102,37103").Split(',').Select(p => int.Parse(p, CultureInfo.InvariantCulture)).ToArray(),
            Get("run", Path.Combine(Path.GetTempPath(), "transport-probe-manual")),
            double.Parse(Get("warmup", "3"), CultureInfo.InvariantCulture),
            double.Parse(Get("warmupmax", "15"), CultureInfo.InvariantCulture),
            double.Parse(Get("duration", "10"), CultureInfo.InvariantCulture),
            int.Parse(Get("proposers", "64"), CultureInfo.InvariantCulture),
            int.Parse(Get("payload", "300"), CultureInfo.InvariantCulture),
            int.Parse(Get("lower", "150"), CultureInfo.InvariantCulture),
            int.Parse(Get("upper", "300"), CultureInfo.InvariantCulture),
            int.Parse(Get("clktck", "100"), CultureInfo.InvariantCulture),
            int.Parse(Get("walpage", "4194304"), CultureInfo.InvariantCulture));
    }
}

/// <summary>Trivial state machine: counts applied entries, keeps the last payload length per proposer.</summary>
internal sealed class CountingStateMachine : IStateMachine
{
    private readonly Dictionary<int, int> lastByProposer = new();
    public long Applied;

    ISnapshot? ISnapshotManager.Snapshot => null;

    ValueTask ISnapshotManager.ReclaimGarbageAsync(long watermark, CancellationToken token) => ValueTask.CompletedTask;

    ValueTask<long> IStateMachine.ApplyAsync(LogEntry entry, CancellationToken token)
    {
        if (entry.TryGetPayload(out var seq) && seq.Length >= 4)
        {
            Span<byte> head = stackalloc byte[4];
            seq.Slice(0, 4).CopyTo(head);
            lastByProposer[BinaryPrimitives.ReadInt32LittleEndian(head)] = (int)seq.Length;
        }

        Applied++;
        return ValueTask.FromResult(entry.Index);
    }
}

internal static class Program
{
    private static readonly bool InlineCompletions = Environment.GetEnvironmentVariable("DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS") == "1";

    public static async Task<int> Main(string[] args)
    {
        var s = Settings.Parse(args);
        var nodeDir = Path.Combine(s.RunDir, $"node{s.Id}");
        Directory.CreateDirectory(nodeDir);
        File.WriteAllText(Path.Combine(s.RunDir, $"pid.{s.Id}"), Environment.ProcessId.ToString(CultureInfo.InvariantCulture));
        using var stop = new CancellationTokenSource();
        Console.CancelKeyPress += (_, e) => { e.Cancel = true; stop.Cancel(); };
        AppDomain.CurrentDomain.ProcessExit += (_, _) => stop.Cancel();

        // Leader-side count of AppendEntries RPCs (both transports record "response-time" per RPC, tagged by message type).
        var counters = new RpcCounters();

        IRaftCluster cluster;
        Func<Task> shutdown;
        // ChunkSize = WAL page (one file + mapping per page): 4 MiB as AspireCache's Cluster:WalPageBytes default
        // (DotNext's default is the OS page, 4 KiB: a file per 4 KiB of log, which exhausts descriptors).
        var walOptions = new WriteAheadLog.Options { Location = Path.Combine(nodeDir, "wal"), ChunkSize = s.WalPageBytes };
        if (s.Transport == "http")
        {
            // Content root = the binaries' directory: the host's config-reload file watcher (recursive inotify on the
            // content root) must not see the WAL writes under the run directory.
            var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = [], ContentRootPath = AppContext.BaseDirectory });
            builder.Logging.ClearProviders();
            builder.Logging.AddSimpleConsole().SetMinimumLevel(LogLevel.Warning);
            builder.WebHost.UseUrls($"http://127.0.0.1:{s.Ports[s.Id]}");
            if (InlineCompletions)
            {
                // Same pairing as AspireCache.ServiceDefaults/InlineIo.cs.
                builder.Services.Configure<SocketTransportOptions>(o => o.UnsafePreferInlineScheduling = true);
            }

            builder.Services.UseInMemoryConfigurationStorage(members =>
            {
                foreach (var p in s.Ports)
                {
                    members.Add(new UriEndPoint(HttpUri(p)));
                }
            });
            builder.Services.UseStateMachine<CountingStateMachine>(walOptions);
            builder.Services.AddHttpClient("raftClient")
                .ConfigureAdditionalHttpMessageHandlers(static (handlers, _) => handlers.Clear());
            builder.JoinCluster((member, _, _) =>
            {
                member.PublicEndPoint = HttpUri(s.Ports[s.Id]);
                member.ColdStart = false;
                member.LowerElectionTimeout = s.LowerMs;
                member.UpperElectionTimeout = s.UpperMs;
                member.HeartbeatThreshold = 0.5;
                member.RequestTimeout = TimeSpan.FromMilliseconds(Math.Max(1000, s.UpperMs));
                member.RpcTimeout = TimeSpan.FromMilliseconds(1000);
                member.AggressiveLeaderStickiness = true;
            });
            var app = builder.Build();
            app.UseConsensusProtocolHandler();
            await app.StartAsync(stop.Token);
            cluster = app.Services.GetRequiredService<IRaftCluster>();
            shutdown = async () => { await app.StopAsync(); await app.DisposeAsync(); };
        }
        else if (s.Transport == "tcp")
        {
            var loggerFactory = LoggerFactory.Create(b => b.AddSimpleConsole().SetMinimumLevel(LogLevel.Warning));
            var config = new RaftCluster.TcpConfiguration(new IPEndPoint(IPAddress.Loopback, s.Ports[s.Id]))
            {
                ConfigurationStorage = null!, // null = DotNext's in-memory storage; filled below
                ColdStart = false,
                LowerElectionTimeout = s.LowerMs,
                UpperElectionTimeout = s.UpperMs,
                HeartbeatThreshold = 0.5,
                RequestTimeout = TimeSpan.FromMilliseconds(Math.Max(1000, s.UpperMs)),
                AggressiveLeaderStickiness = true,
                LoggerFactory = loggerFactory,
                // TransmissionBlockSize: default 65535
            };

            // The internal in-memory storage derives from the public InMemoryClusterConfigurationStorage<EndPoint>:
            // seed it with the static member list (the TCP counterpart of UseInMemoryConfigurationStorage).
            var storage = (InMemoryClusterConfigurationStorage<EndPoint>)config.ConfigurationStorage;
            var initial = storage.CreateInitialConfigurationBuilder();
            foreach (var p in s.Ports)
            {
                initial.Add(new IPEndPoint(IPAddress.Loopback, p));
            }

            initial.Build();
            var sm = new CountingStateMachine();
            var wal = new WriteAheadLog(walOptions, sm);
            var raft = new RaftCluster(config) { AuditTrail = wal };
            await raft.StartAsync(stop.Token);
            cluster = raft;
            shutdown = async () =>
            {
                await raft.StopAsync();
                await raft.DisposeAsync();
                await wal.DisposeAsync();
                loggerFactory.Dispose();
            };
        }
        else
        {
            Console.Error.WriteLine($"unknown transport '{s.Transport}' (http|tcp)");
            return 2;
        }

        Console.WriteLine($"node{s.Id} pid={Environment.ProcessId} transport={s.Transport} inline={InlineCompletions} up");
        try
        {
            await DriveIfLeaderAsync(s, cluster, counters, stop.Token);
            await Task.Delay(Timeout.Infinite, stop.Token);
        }
        catch (OperationCanceledException)
        {
        }
        finally
        {
            try { await shutdown().WaitAsync(TimeSpan.FromSeconds(3)); } catch { /* killed anyway */ }
        }

        return 0;
    }

    private static Uri HttpUri(int port) => new($"http://127.0.0.1:{port}/");

    private static async Task DriveIfLeaderAsync(Settings s, IRaftCluster cluster, RpcCounters counters, CancellationToken token)
    {
        await cluster.WaitForLeadershipAsync(token);

        // Only one member drives a run, even if leadership moves.
        try
        {
            using var _ = new FileStream(Path.Combine(s.RunDir, "driver.lock"), FileMode.CreateNew);
        }
        catch (IOException)
        {
            return;
        }

        var pids = new int[s.Ports.Length];
        for (var i = 0; i < pids.Length; i++)
        {
            var file = Path.Combine(s.RunDir, $"pid.{i}");
            while (!File.Exists(file) || new FileInfo(file).Length == 0)
            {
                await Task.Delay(50, token);
            }

            pids[i] = int.Parse(File.ReadAllText(file), CultureInfo.InvariantCulture);
        }

        foreach (var pid in pids)
        {
            if (!Directory.Exists($"/proc/{pid}"))
            {
                File.WriteAllText(Path.Combine(s.RunDir, "result.txt"), $"transport={s.Transport} error=member_pid_{pid}_not_running" + Environment.NewLine);
                return;
            }
        }

        // One committed entry first: the followers are reachable and the log works.
        var first = Stopwatch.StartNew();
        await cluster.ReplicateAsync(new BinaryLogEntry { Content = new byte[s.PayloadBytes], Term = cluster.Term }, token);
        Console.WriteLine($"node{s.Id} leader (term {cluster.Term}); first commit in {first.Elapsed.TotalMilliseconds:F1} ms");

        var phase = 0; // 0 warm-up, 1 measuring, 2 stopping
        var latencies = new List<long>[s.Proposers];
        var errors = 0L;
        var writers = new Task[s.Proposers];
        using var stopLoad = CancellationTokenSource.CreateLinkedTokenSource(token);
        for (var p = 0; p < s.Proposers; p++)
        {
            var id = p;
            latencies[id] = new List<long>(8192);
            writers[id] = Task.Run(async () =>
            {
                var payload = new byte[s.PayloadBytes];
                Random.Shared.NextBytes(payload);
                BinaryPrimitives.WriteInt32LittleEndian(payload, id);
                var seq = 0L;
                while (Volatile.Read(ref phase) < 2 && !stopLoad.IsCancellationRequested)
                {
                    BinaryPrimitives.WriteInt64LittleEndian(payload.AsSpan(4), ++seq);
                    var started = Stopwatch.GetTimestamp();
                    var startedPhase = Volatile.Read(ref phase);
                    try
                    {
                        // A fresh copy per entry, as a real writer would hand over its own buffer.
                        await cluster.ReplicateAsync(new BinaryLogEntry { Content = payload.ToArray(), Term = cluster.Term }, stopLoad.Token);
                    }
                    catch (OperationCanceledException) when (stopLoad.IsCancellationRequested)
                    {
                        break;
                    }
                    catch (Exception)
                    {
                        Interlocked.Increment(ref errors);
                        await Task.Delay(10);
                        continue;
                    }

                    // Counted when it started and completed inside the window.
                    if (startedPhase == 1 && Volatile.Read(ref phase) == 1)
                    {
                        latencies[id].Add(Stopwatch.GetTimestamp() - started);
                    }
                }
            });
        }

        // Warm-up: at least WarmupS, then until no process is still tiering up code (its JIT thread idle for
        // 1 s), at most WarmupMaxS: a window with background re-JIT would charge JIT work to the transport.
        var warm = Stopwatch.StartNew();
        await Task.Delay(TimeSpan.FromSeconds(s.WarmupS), token);
        var jitPrev = pids.Select(ThreadBreakdown.JitTicks).ToArray();
        while (warm.Elapsed.TotalSeconds < s.WarmupMaxS)
        {
            await Task.Delay(1000, token);
            var jitNow = pids.Select(ThreadBreakdown.JitTicks).ToArray();
            var busiest = jitNow.Zip(jitPrev, (a, b) => a - b).Max();
            jitPrev = jitNow;
            if (busiest * 1000 / s.ClkTck <= 10) // <= 10 ms of JIT in the last second in every process
            {
                break;
            }
        }

        var warmupUsed = warm.Elapsed.TotalSeconds;
        var termBefore = cluster.Term;
        var aeBefore = counters.AppendEntries;
        var threadsBefore = pids.Select(ThreadBreakdown.Take).ToArray();
        var before = pids.Select(ProcSample.Take).ToArray();
        var machineBefore = ProcSample.MachineBusyTicks();
        var window = Stopwatch.StartNew();
        Volatile.Write(ref phase, 1);
        await Task.Delay(TimeSpan.FromSeconds(s.DurationS), token);
        Volatile.Write(ref phase, 2);
        var elapsed = window.Elapsed.TotalSeconds;
        var after = pids.Select(ProcSample.Take).ToArray();
        var machineAfter = ProcSample.MachineBusyTicks();
        var threadsAfter = pids.Select(ThreadBreakdown.Take).ToArray();
        var aeAfter = counters.AppendEntries;
        var termAfter = cluster.Term;
        stopLoad.CancelAfter(TimeSpan.FromSeconds(2));
        try { await Task.WhenAll(writers).WaitAsync(TimeSpan.FromSeconds(3)); } catch { /* canceled */ }

        var all = latencies.SelectMany(l => l).ToArray();
        Array.Sort(all);
        double Pct(double q) => all.Length == 0 ? double.NaN : all[Math.Min(all.Length - 1, (int)(q * all.Length))] * 1000.0 / Stopwatch.Frequency;
        var writes = all.Length;
        var leaderIdx = s.Id;
        var followerIdx = Enumerable.Range(0, pids.Length).Where(i => i != leaderIdx).ToArray();
        double CpuUs(int i) => (after[i].Ticks - before[i].Ticks) * 1e6 / s.ClkTck / Math.Max(1, writes);
        double Cs(int i) => (double)(after[i].CtxSwitches - before[i].CtxSwitches) / Math.Max(1, writes);
        double CpuPct(int i) => (after[i].Ticks - before[i].Ticks) * 100.0 / s.ClkTck / elapsed;
        double SysPct(int i) => (after[i].SysTicks - before[i].SysTicks) * 100.0 / Math.Max(1, after[i].Ticks - before[i].Ticks);
        // Per thread: a JIT worker that exited in the window drops out, one that started counts from 0.
        double JitPct(int i) => threadsAfter[i].Where(kv => kv.Value.Name.StartsWith(".NET Tiered Com", StringComparison.Ordinal))
            .Sum(kv => kv.Value.Ticks - (threadsBefore[i].TryGetValue(kv.Key, out var o) ? o.Ticks : 0)) * 100.0 / Math.Max(1, after[i].Ticks - before[i].Ticks);
        var ours = Enumerable.Range(0, pids.Length).Sum(i => after[i].Ticks - before[i].Ticks);
        var foreignPct = (machineAfter - machineBefore - ours) * 100.0 / s.ClkTck / elapsed; // other processes + kernel threads, % of one core
        var aeRpcs = aeAfter - aeBefore; // RPCs to both followers
        var rounds = aeRpcs / (double)followerIdx.Length;
        var inv = CultureInfo.InvariantCulture;
        var line = string.Format(inv,
            "transport={0} writes={1} writes_s={2:F0} p50_ms={3:F2} p99_ms={4:F2} " +
            "cpu_us_leader={5:F1} cpu_us_f1={6:F1} cpu_us_f2={7:F1} cs_leader={8:F2} cs_f1={9:F2} cs_f2={10:F2} " +
            "cpu_pct_leader={11:F0} cpu_pct_f1={12:F0} cpu_pct_f2={13:F0} ae_rounds_per_follower_s={14:F0} entries_per_round={15:F1} " +
            "cpu_us_per_round_f1={16:F0} cs_per_round_f1={17:F1} errors={18} term={19}->{20} inline={21} " +
            "sys_pct_of_cpu_leader={22:F0} sys_pct_of_cpu_f1={23:F0} sys_pct_of_cpu_f2={24:F0} proposers={25} foreign_cpu_pct={26:F0} warmup_s={27:F1} jit_pct_of_cpu_leader={28:F1} jit_pct_of_cpu_f1={29:F1} jit_pct_of_cpu_f2={30:F1}",
            s.Transport, writes, writes / elapsed, Pct(0.50), Pct(0.99),
            CpuUs(leaderIdx), CpuUs(followerIdx[0]), CpuUs(followerIdx[1]), Cs(leaderIdx), Cs(followerIdx[0]), Cs(followerIdx[1]),
            CpuPct(leaderIdx), CpuPct(followerIdx[0]), CpuPct(followerIdx[1]), rounds / elapsed, rounds > 0 ? writes / rounds : double.NaN,
            rounds > 0 ? (after[followerIdx[0]].Ticks - before[followerIdx[0]].Ticks) * 1e6 / s.ClkTck / rounds : double.NaN,
            rounds > 0 ? (after[followerIdx[0]].CtxSwitches - before[followerIdx[0]].CtxSwitches) / rounds : double.NaN,
            Interlocked.Read(ref errors), termBefore, termAfter, InlineCompletions,
            SysPct(leaderIdx), SysPct(followerIdx[0]), SysPct(followerIdx[1]), s.Proposers, foreignPct, warmupUsed, JitPct(leaderIdx), JitPct(followerIdx[0]), JitPct(followerIdx[1]));
        Console.WriteLine("RESULT " + line);
        using (var bd = new StreamWriter(Path.Combine(s.RunDir, "threads.txt")))
        {
            for (var i = 0; i < pids.Length; i++)
            {
                var role = i == leaderIdx ? "leader" : $"follower(node{i})";
                bd.WriteLine($"{role} pid={pids[i]}: per thread-name group, per committed write (writes={writes}, rounds/follower={rounds:F0})");
                foreach (var line2 in ThreadBreakdown.Diff(threadsBefore[i], threadsAfter[i], s.ClkTck, writes, rounds))
                {
                    bd.WriteLine("  " + line2);
                }
            }
        }

        var tmp = Path.Combine(s.RunDir, "result.tmp");
        File.WriteAllText(tmp, line + Environment.NewLine);
        File.Move(tmp, Path.Combine(s.RunDir, "result.txt"));
    }
}

/// <summary>utime+stime (clock ticks) of a process and voluntary+nonvoluntary context switches summed over its threads.</summary>
internal readonly record struct ProcSample(long Ticks, long SysTicks, long CtxSwitches)
{
    /// <summary>Machine-wide non-idle ticks (user+nice+system+irq+softirq+steal) from /proc/stat.</summary>
    public static long MachineBusyTicks()
    {
        var f = File.ReadLines("/proc/stat").First().Split(' ', StringSplitOptions.RemoveEmptyEntries);
        long V(int i) => long.Parse(f[i], CultureInfo.InvariantCulture);
        return V(1) + V(2) + V(3) + V(6) + V(7) + V(8);
    }

    public static ProcSample Take(int pid)
    {
        var stat = File.ReadAllText($"/proc/{pid}/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        // fields[0] is field 3 (state): utime is field 14, stime field 15.
        var ticks = long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
        long cs = 0;
        foreach (var task in Directory.EnumerateDirectories($"/proc/{pid}/task"))
        {
            try
            {
                foreach (var l in File.ReadLines(Path.Combine(task, "status")))
                {
                    if (l.StartsWith("voluntary_ctxt_switches:", StringComparison.Ordinal) || l.StartsWith("nonvoluntary_ctxt_switches:", StringComparison.Ordinal))
                    {
                        cs += long.Parse(l.AsSpan(l.IndexOf(':') + 1).Trim(), CultureInfo.InvariantCulture);
                    }
                }
            }
            catch (IOException)
            {
                // thread exited between listing and reading
            }
        }

        return new ProcSample(ticks, long.Parse(fields[12], CultureInfo.InvariantCulture), cs);
    }
}

/// <summary>Counts the leader's AppendEntries RPCs via DotNext's client-side "response-time" histogram.</summary>
internal sealed class RpcCounters : IDisposable
{
    private readonly MeterListener listener = new();
    private long appendEntries;

    public RpcCounters()
    {
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == "DotNext.Net.Cluster.Consensus.Raft.Client" && instrument.Name == "response-time")
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<double>((_, _, tags, _) =>
        {
            foreach (var t in tags)
            {
                if (t.Key == "dotnext.raft.client.message" && (string?)t.Value == "AppendEntries")
                {
                    Interlocked.Increment(ref appendEntries);
                    return;
                }
            }
        });
        listener.Start();
    }

    public long AppendEntries => Interlocked.Read(ref appendEntries);

    public void Dispose() => listener.Dispose();
}

/// <summary>CPU ticks and context switches per thread, grouped by thread name (/proc/PID/task/TID/comm).</summary>
internal static class ThreadBreakdown
{
    /// <summary>CPU ticks of the runtime's tiered-compilation background thread(s).</summary>
    public static long JitTicks(int pid) => Take(pid).Values.Where(v => v.Name.StartsWith(".NET Tiered Com", StringComparison.Ordinal)).Sum(v => v.Ticks);

    public static Dictionary<int, (string Name, long Ticks, long Cs)> Take(int pid)
    {
        var result = new Dictionary<int, (string, long, long)>();
        foreach (var task in Directory.EnumerateDirectories($"/proc/{pid}/task"))
        {
            try
            {
                var tid = int.Parse(Path.GetFileName(task), CultureInfo.InvariantCulture);
                var name = File.ReadAllText(Path.Combine(task, "comm")).Trim();
                var stat = File.ReadAllText(Path.Combine(task, "stat"));
                var f = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                var ticks = long.Parse(f[11], CultureInfo.InvariantCulture) + long.Parse(f[12], CultureInfo.InvariantCulture);
                long cs = 0;
                foreach (var l in File.ReadLines(Path.Combine(task, "status")))
                {
                    if (l.StartsWith("voluntary_ctxt_switches:", StringComparison.Ordinal) || l.StartsWith("nonvoluntary_ctxt_switches:", StringComparison.Ordinal))
                    {
                        cs += long.Parse(l.AsSpan(l.IndexOf(':') + 1).Trim(), CultureInfo.InvariantCulture);
                    }
                }

                result[tid] = (name, ticks, cs);
            }
            catch (Exception e) when (e is IOException or FormatException)
            {
            }
        }

        return result;
    }

    public static IEnumerable<string> Diff(Dictionary<int, (string Name, long Ticks, long Cs)> a, Dictionary<int, (string Name, long Ticks, long Cs)> b, int clk, int writes, double rounds)
    {
        var groups = new Dictionary<string, (int Threads, long Ticks, long Cs)>();
        foreach (var (tid, v) in b)
        {
            a.TryGetValue(tid, out var old); // new threads start from 0
            var key = v.Name;
            groups.TryGetValue(key, out var g);
            groups[key] = (g.Threads + 1, g.Ticks + v.Ticks - old.Ticks, g.Cs + v.Cs - old.Cs);
        }

        foreach (var (name, g) in groups.OrderByDescending(kv => kv.Value.Cs))
        {
            if (g.Cs == 0 && g.Ticks == 0) continue;
            yield return string.Format(CultureInfo.InvariantCulture, "{0,-18} threads={1,3} cpu_us/write={2,8:F1} cs/write={3,6:F2} cpu_us/round={4,8:F0} cs/round={5,6:F1}",
                name, g.Threads, g.Ticks * 1e6 / clk / Math.Max(1, writes), (double)g.Cs / Math.Max(1, writes),
                rounds > 0 ? g.Ticks * 1e6 / clk / rounds : double.NaN, rounds > 0 ? g.Cs / rounds : double.NaN);
        }
    }
}
