using System.Globalization;

namespace AspireCache.Bench;

public enum BenchSystem
{
    AspireCache,
    Etcd,
}

public enum BenchMode
{
    /// <summary>Closed-loop throughput/latency run.</summary>
    Load,

    /// <summary>Continuous writes + linearizable reads; gaps, errors and lost writes are reported.</summary>
    Failover,

    /// <summary>Polls the targets' status until one names a leader in term &gt;= <see cref="BenchOptions.MinTerm"/> (see <see cref="LeaderWatch"/>).</summary>
    LeaderWatch,

    /// <summary>Loads many keys, keeps writers busy and takes a snapshot on the target leader: reports write stalls (see <see cref="SnapshotRunner"/>).</summary>
    Snapshot,

    /// <summary>Opens many watch streams, writes at a fixed rate: delivery latency, missing events, memory per idle stream (see <see cref="WatchRunner"/>).</summary>
    Watch,

    /// <summary>Many simulated service instances read hot keys in server-only, near-cache and bounded-staleness modes (see <see cref="ConfigReadsRunner"/>).</summary>
    ConfigReads,

    /// <summary>One PUT to IOptionsMonitor.OnChange in many configuration providers (see <see cref="ConfigReadsRunner.RunPropagationAsync"/>).</summary>
    Propagation,

    /// <summary>No load: renders the scale-sweep charts and table of a results file (bench/scale.sh; see <see cref="Charts"/>).</summary>
    Chart,

    /// <summary>Sequential GETs per target and path, each on its own thread: latency tail and stalls, and which stalls the probes share (see <see cref="StallProbe"/>).</summary>
    Probe,

    /// <summary>No cluster: what making a round's log entry durable costs on this disk, DotNext's way and etcd's (see <see cref="WalSyncProbe"/>).</summary>
    WalSync,
}

/// <summary>How the tool talks to AspireCache (etcd is always spoken to over raw HTTP).</summary>
public enum ClientKind
{
    /// <summary>AspireCache.Client (<c>IAspireCacheClient</c>): what a .NET service uses; its retries are counted and reported.</summary>
    Library,

    /// <summary>Hand-written HTTP requests: every attempt is one request, every failure is visible as an error.</summary>
    Raw,

    /// <summary>AspireCache.Client in direct mode: ONE client whose nodes are the targets (writes and linearizable reads to the leader, concurrent reads coalesced unless <c>--coalesce-reads false</c>).</summary>
    Direct,
}

public enum KeyDistribution
{
    Uniform,
    Zipf,
}

public enum ReadConsistency
{
    /// <summary>AspireCache <c>consistent=true</c> (ReadIndex); etcd <c>serializable=false</c>.</summary>
    Linearizable,

    /// <summary>AspireCache <c>consistent=false</c> (local read); etcd <c>serializable=true</c>.</summary>
    Stale,
}

/// <summary>Everything a run needs. Settable so tests can build one directly; <see cref="Parse"/> reads command-line arguments.</summary>
public sealed class BenchOptions
{
    public IList<Uri> Targets { get; set; } = [new Uri("http://127.0.0.1:5080/")];

    /// <summary>Concurrent closed-loop workers; also the connection-pool size per server.</summary>
    public int Connections { get; set; } = 64;

    public TimeSpan Duration { get; set; } = TimeSpan.FromSeconds(10);

    public TimeSpan Warmup { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>Fraction of operations that are reads (0..1). The rest are writes.</summary>
    public double ReadFraction { get; set; } = 0.9;

    /// <summary>True when the mix was given explicitly (failover mode defaults to half readers, half writers otherwise).</summary>
    public bool MixSpecified { get; set; }

    public int Keys { get; set; } = 10_000;

    public KeyDistribution Distribution { get; set; } = KeyDistribution.Uniform;

    public double ZipfS { get; set; } = 0.99;

    public int ValueSize { get; set; } = 256;

    public ReadConsistency Consistency { get; set; } = ReadConsistency.Linearizable;

    public BenchSystem System { get; set; } = BenchSystem.AspireCache;

    public BenchMode Mode { get; set; } = BenchMode.Load;

    /// <summary>Write every key once before measuring so reads hit.</summary>
    public bool Preload { get; set; }

    public string? JsonPath { get; set; }

    public string KeyPrefix { get; set; } = "bench/";

    /// <summary>Free-text name of the run, echoed in the output and the JSON.</summary>
    public string? Label { get; set; }

    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Pause after a failed request (null: 0 in load mode, 10 ms in failover mode).</summary>
    public TimeSpan? ErrorBackoff { get; set; }

    public TimeSpan ProgressInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Failover mode: how long the final verification may retry before giving up on a key.</summary>
    public TimeSpan VerifyTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Seed for key choice and values (workers derive their own seeds from it).</summary>
    public int Seed { get; set; } = 12345;

    /// <summary>Leader-watch mode: the smallest term that counts as a new leader.</summary>
    public long MinTerm { get; set; } = 1;

    /// <summary>Leader-watch mode: time between polls.</summary>
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromMilliseconds(10);

    /// <summary>Leader-watch mode: path polled on each target (<c>cluster/status</c>, or <c>router/topology</c> on the router).</summary>
    public string WatchPath { get; set; } = "cluster/status";

    /// <summary>Probe mode: the paths probed on every target, <c>{key}</c> replaced by a key of the key space.</summary>
    public IList<string> ProbePaths { get; set; } = ["cache/{key}", "cache/{key}?consistent=false"];

    /// <summary>Probe mode: a request slower than this is a stall.</summary>
    public TimeSpan StallThreshold { get; set; } = TimeSpan.FromMilliseconds(20);

    public bool ShowHelp { get; set; }

    /// <summary>Environment variable read when <c>--api-key</c> is not given.</summary>
    public const string ApiKeyVariable = "ASPIRECACHE_BENCH_KEY";

    /// <summary>
    /// AspireCache: sent as <c>Authorization: Bearer</c> on every AspireCache request (raw client: one
    /// default header of the tool's HttpClient; library client: <c>AspireCacheClientOptions.Credential</c>).
    /// Never sent to etcd. Null: no credential (a cluster without auth).
    /// </summary>
    public string? ApiKey { get; set; }

    /// <summary>Chart mode: the results file (bench/scale.sh's <c>results.json</c>).</summary>
    public string? InputPath { get; set; }

    /// <summary>Chart mode: where the PNGs and the markdown table are written (default: the input's folder).</summary>
    public string? OutputDirectory { get; set; }

    /// <summary>Wal-sync mode: the directory its files go to (on the disk being measured; default: the current directory).</summary>
    public string? DataDirectory { get; set; }

    /// <summary>Wal-sync mode: rounds per variant and pass.</summary>
    public int Rounds { get; set; } = 2000;

    /// <summary>Wal-sync mode: bytes of the entry each round makes durable (~30 writes of 256-byte values).</summary>
    public int EntryBytes { get; set; } = 9200;

    /// <summary>Wal-sync mode: how many times every variant runs, in an order rotated from pass to pass.</summary>
    public int Passes { get; set; } = 3;

    /// <summary>AspireCache: send an <c>Idempotency-Key</c> with every write.</summary>
    public bool IdempotencyKeys { get; set; }

    /// <summary>
    /// AspireCache requests through AspireCache.Client or raw HTTP. Null: the mode's default
    /// (<see cref="EffectiveClient"/>, <see cref="EffectiveWatchClient"/>).
    /// </summary>
    public ClientKind? Client { get; set; }

    /// <summary><c>--client library</c> and <c>direct</c>: the client's read coalescing (<see cref="AspireCacheClientOptions.CoalesceReads"/>, default true).</summary>
    public bool CoalesceReads { get; set; } = true;

    /// <summary><c>--client library</c> and <c>direct</c>: the client's write coalescing (<see cref="AspireCacheClientOptions.CoalesceWrites"/>, default true).</summary>
    public bool CoalesceWrites { get; set; } = true;

    /// <summary>Watch mode: number of watch streams to open.</summary>
    public int Watchers { get; set; } = 100;

    /// <summary>Config-reads / propagation modes: simulated service instances.</summary>
    public int Instances { get; set; } = 100;

    /// <summary>Config-reads mode: concurrent readers per instance.</summary>
    public int Readers { get; set; } = 8;

    /// <summary>Config-reads mode: the read modes to run (linearizable, near, bounded, stale-local).</summary>
    public IList<string> ReadModes { get; set; } = ["linearizable", "near", "bounded"];

    /// <summary>Config-reads mode: the bound of <c>bounded</c>.</summary>
    public TimeSpan MaxStaleness { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Propagation mode: PUTs measured.</summary>
    public int Writes { get; set; } = 30;

    /// <summary>Watch mode: where the writer sends its writes (default: the first target).</summary>
    public Uri? WriteTarget { get; set; }

    /// <summary>Watch mode: writes per second (fixed rate, open loop).</summary>
    public double WriteRate { get; set; } = 10;

    /// <summary>Watch mode: server processes whose resident memory (VmRSS) and CPU are measured.</summary>
    public IList<int> Pids { get; set; } = [];

    /// <summary>Watch mode: proxy processes (the router) measured separately.</summary>
    public IList<int> ProxyPids { get; set; } = [];

    /// <summary>Watch mode: streams being opened at once.</summary>
    public int OpenParallelism { get; set; } = 64;

    /// <summary>Watch mode: how long the open streams stay idle before memory is measured.</summary>
    public TimeSpan IdleSettle { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>Watch mode: how long to wait after the last write for events still on their way.</summary>
    public TimeSpan DrainTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Watch mode: free-text name of the path the streams take (router, nodes, members); shown in the output.</summary>
    public string? TargetKind { get; set; }

    /// <summary>
    /// The get/put client. Raw HTTP by default in load and failover modes, AspireCache.Client in watch mode
    /// (its 10 writes/s). Load mode measures the servers on a box the tool shares with them: the library
    /// costs the tool more CPU per operation (measured: +9 µs per stale read, +20–30 µs per linearizable
    /// read or write through the router, 2 KB more garbage per call; bench/README.md), CPU the servers
    /// then lack, and etcd is driven by an equally thin raw client. Failover mode reports every failed
    /// attempt by kind (the election's 503s, timeouts, resets), where the library would retry inside one
    /// call until its deadline (the gaps it measures are the same either way). <c>--client library</c>
    /// measures what a .NET service gets (its retries are then counted and reported).
    /// </summary>
    internal ClientKind EffectiveClient => Client ?? (Mode == BenchMode.Watch ? ClientKind.Library : ClientKind.Raw);

    /// <summary>
    /// Watch mode's streams: the raw reader unless <c>--client library</c>, kept for speed. Per event (same
    /// frames, no network) the raw reader costs 0.8–2 µs of CPU and 128 B of garbage, the client's
    /// <c>WatchAsync</c> 7.3 µs and 3.7 KB: at 10,000 streams (~100,000 events/s) that is ~0.7 of this box's two
    /// cores and 370 MB/s of garbage in the tool, taken from the servers it measures (bench/README.md).
    /// </summary>
    internal ClientKind EffectiveWatchClient => Client ?? ClientKind.Raw;

    internal TimeSpan EffectiveErrorBackoff =>
        ErrorBackoff ?? (Mode == BenchMode.Failover ? TimeSpan.FromMilliseconds(10) : TimeSpan.Zero);

    public const string Usage = """
        AspireCache.Bench — closed-loop HTTP/1.1 load generator for AspireCache (and etcd's v3 JSON gateway)

        Options:
          --target <url>[,<url>...]   router URL, a node URL, or a list (round-robin per worker)   [http://127.0.0.1:5080]
          --connections N             concurrent workers = keep-alive connections                  [64]
          --duration 10s              measured time (ms, s, m suffixes)                            [10s]
          --warmup 2s                 unmeasured time before measuring                              [2s]
          --mix read:90,write:10      operation mix (or --reads 0.9)                               [read:90,write:10]
          --keys N                    key space size                                               [10000]
          --distribution uniform|zipf (--zipf-s 0.99)                                              [uniform]
          --value-size N              bytes per value                                              [256]
          --consistency linearizable|stale                                                         [linearizable]
          --system aspirecache|etcd   etcd: POST /v3/kv/put and /v3/kv/range (JSON gateway)        [aspirecache]
          --preload                   write every key once before measuring, so reads hit
          --mode load|failover        failover: continuous writes + linearizable reads, gaps, lost-write check
          --json <file>               also write the results as JSON
          --label <text>              name of the run (shown in output and JSON)
          --key-prefix <text>         prefix of every key                                          [bench/]
          --request-timeout 10s       per-request timeout (library client: per-call deadline)     [10s]
          --error-backoff 0ms         pause after an error                                         [0 load, 10ms failover]
          --verify-timeout 30s        failover: retry budget of the final verification             [30s]
          --seed N                    random seed                                                  [12345]
          --client library|raw|direct AspireCache: AspireCache.Client (retries inside a call until --request-timeout,
                                      counted and shown as "client retries") or hand-written HTTP requests;
                                      direct: one AspireCache.Client in direct mode, the targets as its nodes
                                      [raw in load and failover modes; watch mode: library writer, raw streams]
          --coalesce-reads true|false --client library|direct: concurrent reads to one target travel together [true]
          --coalesce-writes true|false --client library|direct: concurrent single-key writes to one target travel together [true]
          --idempotency-keys          raw client: a fresh Idempotency-Key header on every write (as the router
                                      adds; the library always sends one)
          --api-key <key>             AspireCache with auth on: every AspireCache request carries
                                      "Authorization: Bearer <key>" (raw: one default header; library: the
                                      client's Credential); etcd requests never do   [env ASPIRECACHE_BENCH_KEY]

        Snapshot mode (used by bench/snapshot-stall.sh): --mode snapshot --target <leader node URL> --keys 1000000
          loads the keys (1,000-key batches), keeps --connections writers busy for --warmup + --duration,
          POSTs /admin/snapshot, writes --duration more, and prints the longest time no write completed
          before and during the snapshot (keys and writes through AspireCache.Client, 5 min deadline)

        Leader-watch mode (used by bench/failover.sh): --mode leader-watch --target <nodes> --min-term N
          [--interval 10ms] [--watch-path cluster/status|router/topology] [--duration 30s]
          polls until a target reports a leader in term >= N; prints leader=<id> term=<n> unix_ms=<t>

        Watch mode (used by bench/watch.sh): --mode watch --system aspirecache|etcd --watchers W --target <urls>
          --write-target <url> [--write-rate 10] [--duration 20s] --key-prefix bench/w/ --value-size 64 (9+)
          [--pids p1,p2,p3] [--proxy-pids p] [--open-parallelism 64] [--idle-settle 2s] [--drain 5s] [--target-kind text]
          opens W watch streams on the prefix (round-robin over the targets), measures the servers' VmRSS per idle
          stream, writes sequence-numbered values at a fixed rate and reports delivery latency (after the write's
          acknowledgement and after its send), delivered vs expected events, events/s and errors; the writer
          uses AspireCache.Client, the streams a raw SSE reader (--client library: the client's WatchAsync too)

        Config-reads mode (used by bench/config-reads.sh): --mode config-reads --target <router> | <node1,node2,node3>
          [--instances 100] [--readers 8] [--keys 100] [--value-size 64] [--duration 10s]
          [--read-modes linearizable,near,bounded,stale-local] [--max-staleness 1s] [--pids p1,p2,...]
          INSTANCES AspireCache.Client instances (own connections, own near cache; several targets = direct mode),
          READERS concurrent readers each, read KEYS hot keys per mode: reads/s, p50/p99/p99.9, share answered
          locally, progress requests/s, server and tool CPU

        Propagation mode: --mode propagation --target <router> [--instances 100] [--writes 30]
          INSTANCES configuration providers (AddAspireCache + IOptionsMonitor); per PUT, the time until each
          instance's OnChange saw the new value

        Probe mode (used by bench/stalls.sh): --mode probe --target <router>,<leader>,<follower>
          [--probe-paths "cache/{key},cache/{key}?consistent=false"] [--stall 20ms] [--keys N] [--duration 10s]
          one thread per target and path sends GETs one after another (its own keep-alive connection, synchronous
          sends); per probe p50, p99, max and the requests slower than --stall, and how many of those overlapped
          a stall of another probe (shared by every path: the box or a process pausing; by the linearizable
          paths only: the read-index path, its round or the hops around it)

        Wal-sync mode (used by bench/wal-sync.sh): --mode wal-sync [--data-dir <dir>] [--rounds 2000]
          [--entry-bytes 9200] [--passes 3]
          no cluster: per round, one entry made durable on this disk, DotNext 6.12's way (mmap, msync of data
          and metadata, checkpoint through WriteThrough = O_SYNC), the same on page files written beforehand
          (dotnext-pw), its PrivateMemory way (O_SYNC writes of the changed ranges) and etcd's (pwrite + fdatasync);
          wall time per round (p50, p99, mean) and CPU per round

        Chart mode (used by bench/scale.sh): --mode chart --input results.json [--output <dir>]
          no load: reads the load-mode JSON results of a scale sweep ({"fixedValueSize", "fixedConnections",
          "runs": [...]}, or a bare array of runs) and writes scale.md (throughput, p50, p99 per point and
          system) and bench-{throughput,p99}-vs-{connections,value-size}.png: one line per system + workload
        """;

    /// <summary>Parses <c>--name value</c> and <c>--name=value</c> arguments. Throws <see cref="ArgumentException"/> on bad input.</summary>
    public static BenchOptions Parse(IReadOnlyList<string> args)
    {
        var o = new BenchOptions();
        for (var i = 0; i < args.Count; i++)
        {
            var arg = args[i];
            if (!arg.StartsWith('-'))
            {
                throw new ArgumentException($"Unexpected argument '{arg}'.");
            }

            string name;
            string? inline = null;
            var eq = arg.IndexOf('=', StringComparison.Ordinal);
            if (eq > 0)
            {
                name = arg[..eq];
                inline = arg[(eq + 1)..];
            }
            else
            {
                name = arg;
            }

            name = name.TrimStart('-').ToLowerInvariant();

            string Value()
            {
                if (inline is not null)
                {
                    return inline;
                }

                if (i + 1 >= args.Count)
                {
                    throw new ArgumentException($"Option --{name} needs a value.");
                }

                return args[++i];
            }

            switch (name)
            {
                case "h" or "help" or "?":
                    o.ShowHelp = true;
                    break;
                case "target" or "targets" or "t":
                    o.Targets = ParseTargets(Value());
                    break;
                case "connections" or "c" or "concurrency":
                    o.Connections = ParseInt(name, Value(), 1, 100_000);
                    break;
                case "duration" or "d":
                    o.Duration = ParseDuration(name, Value());
                    break;
                case "warmup":
                    o.Warmup = ParseDuration(name, Value(), allowZero: true);
                    break;
                case "mix":
                    o.ReadFraction = ParseMix(Value());
                    o.MixSpecified = true;
                    break;
                case "reads":
                    o.ReadFraction = ParseDouble(name, Value(), 0, 1);
                    o.MixSpecified = true;
                    break;
                case "keys":
                    o.Keys = ParseInt(name, Value(), 1, 100_000_000);
                    break;
                case "distribution":
                    o.Distribution = ParseEnum<KeyDistribution>(name, Value());
                    break;
                case "zipf-s" or "zipf":
                    o.ZipfS = ParseDouble(name, Value(), 0, 10);
                    break;
                case "value-size":
                    o.ValueSize = ParseInt(name, Value(), 1, 64 * 1024 * 1024);
                    break;
                case "consistency":
                    o.Consistency = Value().ToLowerInvariant() switch
                    {
                        "linearizable" or "strong" or "consistent" or "true" => ReadConsistency.Linearizable,
                        "stale" or "serializable" or "false" => ReadConsistency.Stale,
                        var v => throw new ArgumentException($"--consistency must be linearizable or stale, not '{v}'."),
                    };
                    break;
                case "system":
                    o.System = ParseEnum<BenchSystem>(name, Value());
                    break;
                case "mode":
                    o.Mode = ParseEnum<BenchMode>(name, Value());
                    break;
                case "preload":
                    o.Preload = inline is null || bool.Parse(inline);
                    break;
                case "json":
                    o.JsonPath = Value();
                    break;
                case "label":
                    o.Label = Value();
                    break;
                case "key-prefix":
                    o.KeyPrefix = Value();
                    break;
                case "request-timeout":
                    o.RequestTimeout = ParseDuration(name, Value());
                    break;
                case "error-backoff":
                    o.ErrorBackoff = ParseDuration(name, Value(), allowZero: true);
                    break;
                case "verify-timeout":
                    o.VerifyTimeout = ParseDuration(name, Value(), allowZero: true);
                    break;
                case "progress-interval":
                    o.ProgressInterval = ParseDuration(name, Value());
                    break;
                case "min-term":
                    o.MinTerm = ParseInt(name, Value(), 0, int.MaxValue);
                    break;
                case "interval" or "poll-interval":
                    o.PollInterval = ParseDuration(name, Value());
                    break;
                case "watch-path":
                    o.WatchPath = Value().TrimStart('/');
                    break;
                case "data-dir":
                    o.DataDirectory = Value();
                    break;
                case "rounds":
                    o.Rounds = ParseInt(name, Value(), 1, 10_000_000);
                    break;
                case "entry-bytes":
                    o.EntryBytes = ParseInt(name, Value(), 1, (4 * 1024 * 1024) - 64); // within one 4 MiB WAL page
                    break;
                case "passes":
                    o.Passes = ParseInt(name, Value(), 1, 100);
                    break;
                case "probe-paths":
                    o.ProbePaths = [.. Value().Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(p => p.TrimStart('/'))];
                    break;
                case "stall":
                    o.StallThreshold = ParseDuration(name, Value());
                    break;
                case "client":
                    o.Client = ParseEnum<ClientKind>(name, Value());
                    break;
                case "coalesce-reads":
                    o.CoalesceReads = bool.Parse(Value());
                    break;
                case "coalesce-writes":
                    o.CoalesceWrites = bool.Parse(Value());
                    break;
                case "idempotency-keys":
                    o.IdempotencyKeys = inline is null || bool.Parse(inline);
                    break;
                case "watchers" or "w":
                    o.Watchers = ParseInt(name, Value(), 1, 1_000_000);
                    break;
                case "instances":
                    o.Instances = ParseInt(name, Value(), 1, 100_000);
                    break;
                case "readers":
                    o.Readers = ParseInt(name, Value(), 1, 1_000);
                    break;
                case "read-modes":
                    o.ReadModes = [.. Value().Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)];
                    break;
                case "max-staleness":
                    o.MaxStaleness = ParseDuration(name, Value());
                    break;
                case "writes":
                    o.Writes = ParseInt(name, Value(), 1, 100_000);
                    break;
                case "write-target":
                    o.WriteTarget = ParseTargets(Value())[0];
                    break;
                case "write-rate":
                    o.WriteRate = ParseDouble(name, Value(), 0.01, 1_000_000);
                    break;
                case "pids":
                    o.Pids = ParsePids(name, Value());
                    break;
                case "proxy-pids" or "proxy-pid":
                    o.ProxyPids = ParsePids(name, Value());
                    break;
                case "open-parallelism":
                    o.OpenParallelism = ParseInt(name, Value(), 1, 100_000);
                    break;
                case "idle-settle":
                    o.IdleSettle = ParseDuration(name, Value(), allowZero: true);
                    break;
                case "drain":
                    o.DrainTimeout = ParseDuration(name, Value(), allowZero: true);
                    break;
                case "target-kind":
                    o.TargetKind = Value();
                    break;
                case "seed":
                    o.Seed = ParseInt(name, Value(), int.MinValue, int.MaxValue);
                    break;
                case "api-key":
                    o.ApiKey = Value();
                    break;
                case "input" or "i":
                    o.InputPath = Value();
                    break;
                case "output" or "o":
                    o.OutputDirectory = Value();
                    break;
                default:
                    throw new ArgumentException($"Unknown option '{arg}'. Use --help.");
            }
        }

        if (o.ApiKey is null && Environment.GetEnvironmentVariable(ApiKeyVariable) is { Length: > 0 } fromEnvironment)
        {
            o.ApiKey = fromEnvironment;
        }

        o.Validate();
        return o;
    }

    public void Validate()
    {
        if (Targets.Count == 0)
        {
            throw new ArgumentException("At least one --target is required.");
        }

        if (Mode == BenchMode.Failover && ValueSize < 16)
        {
            throw new ArgumentException("Failover mode needs --value-size of at least 16 bytes (the value carries writer id and sequence).");
        }

        if (Mode == BenchMode.Failover && Connections < 2)
        {
            throw new ArgumentException("Failover mode needs at least 2 connections (one writer, one reader).");
        }

        if (Mode == BenchMode.Watch && ValueSize < 9)
        {
            throw new ArgumentException("Watch mode needs --value-size of at least 9 bytes (the value carries an 8-byte sequence number).");
        }

        if (ReadFraction is < 0 or > 1)
        {
            throw new ArgumentException("The read fraction must be within 0..1.");
        }

        if (Mode == BenchMode.Chart && string.IsNullOrWhiteSpace(InputPath))
        {
            throw new ArgumentException("Chart mode needs --input <results.json>.");
        }

        if (ApiKey is { } key && (key.Length == 0 || key.Any(c => char.IsWhiteSpace(c) || char.IsControl(c))))
        {
            throw new ArgumentException("--api-key must be non-empty, without spaces or control characters.");
        }
    }

    /// <summary>The credential AspireCache requests carry (<see cref="ApiKey"/> for AspireCache runs; never for etcd).</summary>
    internal string? AspireCacheCredential => System == BenchSystem.AspireCache && !string.IsNullOrEmpty(ApiKey) ? ApiKey : null;

    public static IList<Uri> ParseTargets(string value)
    {
        var list = new List<Uri>();
        foreach (var part in value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var text = part.Contains("://", StringComparison.Ordinal) ? part : "http://" + part;
            if (!text.EndsWith('/'))
            {
                text += "/";
            }

            if (!Uri.TryCreate(text, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
            {
                throw new ArgumentException($"Invalid target URL '{part}'.");
            }

            list.Add(uri);
        }

        if (list.Count == 0)
        {
            throw new ArgumentException("--target needs at least one URL.");
        }

        return list;
    }

    private static List<int> ParsePids(string name, string value) =>
        value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(p => ParseInt(name, p, 1, int.MaxValue))
            .ToList();

    /// <summary><c>read:90,write:10</c> → 0.9. Weights need not add up to 100.</summary>
    public static double ParseMix(string value)
    {
        double reads = 0, writes = 0;
        foreach (var part in value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var colon = part.IndexOf(':', StringComparison.Ordinal);
            if (colon <= 0)
            {
                throw new ArgumentException($"Invalid --mix entry '{part}' (expected read:N or write:N).");
            }

            var weight = ParseDouble("mix", part[(colon + 1)..], 0, double.MaxValue);
            switch (part[..colon].ToLowerInvariant())
            {
                case "read" or "reads" or "r" or "get":
                    reads += weight;
                    break;
                case "write" or "writes" or "w" or "put" or "set":
                    writes += weight;
                    break;
                default:
                    throw new ArgumentException($"Unknown operation '{part[..colon]}' in --mix (use read and write).");
            }
        }

        if (reads + writes <= 0)
        {
            throw new ArgumentException("--mix needs a positive weight.");
        }

        return reads / (reads + writes);
    }

    /// <summary><c>500ms</c>, <c>10s</c>, <c>1.5s</c>, <c>2m</c>, or a bare number of seconds.</summary>
    public static TimeSpan ParseDuration(string name, string value, bool allowZero = false)
    {
        var text = value.Trim().ToLowerInvariant();
        double factorMs;
        if (text.EndsWith("ms", StringComparison.Ordinal))
        {
            factorMs = 1;
            text = text[..^2];
        }
        else if (text.EndsWith('s'))
        {
            factorMs = 1000;
            text = text[..^1];
        }
        else if (text.EndsWith('m'))
        {
            factorMs = 60_000;
            text = text[..^1];
        }
        else
        {
            factorMs = 1000;
        }

        if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var number) || number < 0 || (!allowZero && number == 0))
        {
            throw new ArgumentException($"Invalid duration for --{name}: '{value}'.");
        }

        return TimeSpan.FromMilliseconds(number * factorMs);
    }

    private static int ParseInt(string name, string value, int min, int max) =>
        int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) && n >= min && n <= max
            ? n
            : throw new ArgumentException($"Invalid value for --{name}: '{value}'.");

    private static double ParseDouble(string name, string value, double min, double max) =>
        double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var n) && n >= min && n <= max
            ? n
            : throw new ArgumentException($"Invalid value for --{name}: '{value}'.");

    private static T ParseEnum<T>(string name, string value)
        where T : struct, Enum =>
        value.Length > 0 && !char.IsDigit(value[0]) && Enum.TryParse<T>(value.Replace("-", "", StringComparison.Ordinal), ignoreCase: true, out var result) && Enum.IsDefined(result)
            ? result
            : throw new ArgumentException($"Invalid value for --{name}: '{value}' (one of {string.Join(", ", Enum.GetNames<T>()).ToLowerInvariant()}).");

    internal string Describe()
    {
        var targets = string.Join(",", Targets);
        var reads = ReadFraction * 100;
        var consistency = System == BenchSystem.Etcd
            ? (Consistency == ReadConsistency.Linearizable ? "linearizable (serializable=false)" : "serializable")
            : (Consistency == ReadConsistency.Linearizable ? "linearizable" : "stale");
        var dist = Distribution == KeyDistribution.Zipf
            ? string.Create(CultureInfo.InvariantCulture, $"zipf(s={ZipfS})")
            : "uniform";
        var common = string.Create(
            CultureInfo.InvariantCulture,
            $"system={System.ToString().ToLowerInvariant()} mode={Mode.ToString().ToLowerInvariant()} target={targets} connections={Connections} " +
            $"duration={Duration.TotalSeconds:0.###}s value-size={ValueSize}") +
            (System == BenchSystem.AspireCache ? " client=" + EffectiveClient.ToString().ToLowerInvariant() : "") +
            (System == BenchSystem.AspireCache && EffectiveClient != ClientKind.Raw && !CoalesceReads ? " coalesce-reads=false" : "") +
            (System == BenchSystem.AspireCache && EffectiveClient != ClientKind.Raw && !CoalesceWrites ? " coalesce-writes=false" : "") +
            (AspireCacheCredential is not null ? " auth=bearer" : "");
        if (Mode == BenchMode.Failover)
        {
            return common + string.Create(CultureInfo.InvariantCulture, $" keys={Keys} reads=linearizable");
        }

        return common + string.Create(
            CultureInfo.InvariantCulture,
            $" warmup={Warmup.TotalSeconds:0.###}s mix=read:{reads:0.##},write:{100 - reads:0.##} " +
            $"keys={Keys} distribution={dist} reads={consistency} preload={Preload.ToString().ToLowerInvariant()}");
    }
}
