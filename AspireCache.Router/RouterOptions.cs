using System.ComponentModel.DataAnnotations;

namespace AspireCache.Router;

/// <summary>Router settings (section <c>Router</c>).</summary>
public sealed class RouterOptions : IValidatableObject
{
    public const string SectionName = "Router";

    /// <summary>The node names used when <see cref="Nodes"/> is not configured.</summary>
    public static readonly string[] DefaultNodes = ["node1", "node2", "node3"];

    /// <summary>
    /// Service names of the cache nodes; each is resolved through service discovery as
    /// <c>http://{name}</c> (Aspire injects <c>services__{name}__http__0</c>). Empty in configuration:
    /// <see cref="DefaultNodes"/>. (Not a non-empty default here: the configuration binder appends
    /// configured array elements to the default ones instead of replacing them.)
    /// </summary>
    [MinLength(1)]
    public string[] Nodes { get; set; } = [];

    /// <summary>Fills in <see cref="DefaultNodes"/> when no node was configured.</summary>
    public RouterOptions WithDefaults()
    {
        if (Nodes.Length == 0)
        {
            Nodes = DefaultNodes;
        }

        return this;
    }

    /// <summary>This router's zone: reads prefer healthy nodes reporting the same <c>Cluster:Zone</c>.</summary>
    public string? Zone { get; set; }

    /// <summary>Reads skip a node whose applied index trails the most advanced healthy node by more than this.</summary>
    [Range(0, long.MaxValue)]
    public long MaxReadLagEntries { get; set; } = 10_000;

    /// <summary>
    /// Reads are spread over the nodes whose smoothed latency is within this many milliseconds of
    /// the nearest one (in the preferred zone), by fewest requests in flight; farther nodes get
    /// reads only when no near node can serve.
    /// </summary>
    [Range(0, 10_000)]
    public double NearLatencyToleranceMs { get; set; } = 2;

    /// <summary>
    /// A linearizable read goes to the leader when the leader is in the router's preferred zone tier
    /// (any node when no zones are configured), whatever the latency tolerance; stale reads
    /// (<c>consistent=false</c>) and reads no leader can take are spread as above. A follower must ask
    /// the leader for every read-index round (one more hop, and a round shared by fewer reads); the
    /// leader confirms its leadership in one quorum round for every read waiting. Measured on the bench
    /// cluster: 14,400–16,700 linearizable reads/s at the leader against 10,700–11,500 spread over the
    /// three nodes, with 40% less node CPU per read.
    /// </summary>
    public bool LinearizableReadsToLeader { get; set; } = true;

    /// <summary>
    /// After a leader change, writes go to the newly elected leader at once, before it is ready (its
    /// term's first entry committed): the node proposes them after that entry and they commit with it (see
    /// <see cref="Topology.ClusterTopology.ElectedLeaderId"/>). Off: writes wait at the router until the
    /// new leader reports itself ready. Reads wait for "ready" either way.
    /// </summary>
    public bool WritesToElectedLeader { get; set; } = true;

    /// <summary>How often every node's <c>/cluster/status</c> is polled.</summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "00:01:00")]
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromMilliseconds(250);

    /// <summary>A status request slower than this marks the node unhealthy.</summary>
    [Range(typeof(TimeSpan), "00:00:00.050", "00:01:00")]
    public TimeSpan ProbeTimeout { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>How long a request may be retried on other nodes (writes: on the new leader) before 503.</summary>
    [Range(typeof(TimeSpan), "00:00:00", "00:01:00")]
    public TimeSpan RetryDeadline { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Watch streams go to each node's HTTP/2-only endpoint (service discovery name
    /// <c>http://_h2.{node}</c>, the node's <c>Cluster:Http2Url</c>), multiplexed over a few
    /// connections, instead of one HTTP/1.1 connection per stream. The AppHost turns it on.
    /// </summary>
    public bool Http2Streams { get; set; }

    /// <summary>
    /// <c>https</c> when the nodes serve HTTPS (TLS option): destinations become <c>https://{node}</c>
    /// (service discovery's <c>services:{node}:https</c>), and the router trusts the CA in
    /// <c>Tls:CaCertificatePath</c>. Default <c>http</c>.
    /// </summary>
    [RegularExpression("^https?$")]
    public string NodeScheme { get; set; } = "http";

    /// <summary>
    /// The router's own credential (an API key with the <c>read</c> scope) for its own calls to the
    /// nodes: <c>/cluster/status</c> and <c>/cluster/watch</c>. Needed when the nodes enforce
    /// authentication (<c>Auth</c> section); proxied requests carry their caller's credential instead.
    /// </summary>
    public string? Credential { get; set; }

    /// <summary>
    /// Whether <c>GET /router/topology</c> needs a credential with the <c>read</c> scope (checked by
    /// asking a node, remembered briefly). <see langword="null"/> (default): exactly when
    /// <see cref="Credential"/> is set, i.e. when the nodes enforce authentication.
    /// </summary>
    public bool? TopologyRequiresCredential { get; set; }

    /// <summary>Whether <c>/router/topology</c> needs a credential (see <see cref="TopologyRequiresCredential"/>).</summary>
    public bool IsTopologyProtected => TopologyRequiresCredential ?? !string.IsNullOrEmpty(Credential);

    /// <summary>The Retry-After a client gets when no destination can serve its request.</summary>
    [Range(1, 60)]
    public int RetryAfterSeconds { get; set; } = 1;

    /// <summary>How the router coalesces linearizable GETs (section <c>Router:ReadCoalescing</c>).</summary>
    public ReadCoalescingOptions ReadCoalescing { get; set; } = new();

    /// <summary>How the router coalesces single-key writes (section <c>Router:WriteCoalescing</c>).</summary>
    public WriteCoalescingOptions WriteCoalescing { get; set; } = new();

    /// <summary>The coalescing sections' own limits (data annotations are not checked on nested objects by themselves).</summary>
    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        foreach (var (name, section, timeout) in new (string, object, TimeSpan)[]
        {
            (nameof(ReadCoalescing), ReadCoalescing, ReadCoalescing.Timeout),
            (nameof(WriteCoalescing), WriteCoalescing, WriteCoalescing.Timeout),
        })
        {
            var results = new List<ValidationResult>();
            Validator.TryValidateObject(section, new ValidationContext(section), results, validateAllProperties: true);
            foreach (var result in results)
            {
                yield return new ValidationResult($"{SectionName}:{name}: {result.ErrorMessage}", result.MemberNames.Select(m => $"{name}.{m}"));
            }

            if (timeout <= TimeSpan.Zero)
            {
                yield return new ValidationResult($"{SectionName}:{name}:Timeout must be positive.", [$"{name}.Timeout"]);
            }
        }
    }
}

/// <summary>
/// Router-side coalescing of linearizable single-key GETs (section <c>Router:ReadCoalescing</c>):
/// GETs for one node and one credential that arrive while requests to that node are in flight wait
/// and go together in the next one, as one multi-key read under one read index. Each is still
/// linearizable (its batch is sent after it arrived) and gets the answer its own GET would.
/// </summary>
public sealed class ReadCoalescingOptions
{
    /// <summary>On by default; <c>false</c> forwards every GET on its own.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Keys per batch (the nodes take up to 1,000).</summary>
    [Range(1, 1000)]
    public int MaxBatchKeys { get; set; } = 256;

    /// <summary>Batches in flight per node and credential; a GET that finds this many waits for the next.</summary>
    [Range(1, 64)]
    public int MaxInFlight { get; set; } = 1;

    /// <summary>GETs waiting per node and credential; beyond it a GET is forwarded on its own.</summary>
    [Range(1, 1_000_000)]
    public int MaxQueued { get; set; } = 4096;

    /// <summary>Node × credential pairs with GETs queued or in flight (the table is bounded; beyond it GETs are forwarded on their own).</summary>
    [Range(1, 1_000_000)]
    public int MaxGroups { get; set; } = 1024;

    /// <summary>How long a batch may take before its GETs are forwarded on their own.</summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(2);
}

/// <summary>
/// Router-side coalescing of single-key writes (section <c>Router:WriteCoalescing</c>): PUTs and
/// DELETEs for the leader and one credential that arrive while requests to it are in flight wait and
/// go together in the next one. Not atomic: each keeps its own conditions, TTL and Idempotency-Key
/// and gets the answer its own request would; the leader's group commit puts them in one log entry.
/// </summary>
public sealed class WriteCoalescingOptions
{
    /// <summary>On by default; <c>false</c> forwards every write on its own.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Writes per batch (the nodes take up to 1,000).</summary>
    [Range(1, 1000)]
    public int MaxBatchWrites { get; set; } = 256;

    /// <summary>Value bytes per batch (a batch always takes its first write).</summary>
    [Range(1, 8 * 1024 * 1024)]
    public int MaxBatchBytes { get; set; } = 1024 * 1024;

    /// <summary>The largest value a coalesced PUT may carry; larger ones (and bodies of unknown length) go on their own.</summary>
    [Range(0, 1024 * 1024)]
    public int MaxValueBytes { get; set; } = 64 * 1024;

    /// <summary>
    /// Batches in flight per leader and credential; a write that finds this many waits for the next.
    /// One gives the largest log entries (the leader's round takes the whole batch, and the writes that
    /// arrive meanwhile make the next): 30 writes per entry against 20 with two, and 12–28% more routed
    /// writes under the AppHost (bench/README.md, session 28).
    /// </summary>
    [Range(1, 64)]
    public int MaxInFlight { get; set; } = 1;

    /// <summary>Writes waiting per leader and credential; beyond it a write is forwarded on its own.</summary>
    [Range(1, 1_000_000)]
    public int MaxQueued { get; set; } = 4096;

    /// <summary>Value bytes of all coalesced writes queued or in flight; beyond it a write is forwarded on its own.</summary>
    [Range(1, long.MaxValue)]
    public long MaxQueuedBytes { get; set; } = 64L * 1024 * 1024;

    /// <summary>Leader × credential pairs with writes queued or in flight (beyond it writes are forwarded on their own).</summary>
    [Range(1, 1_000_000)]
    public int MaxGroups { get; set; } = 1024;

    /// <summary>
    /// How long a batch may take before its writes go on alone (with their Idempotency-Keys: never
    /// applied twice). Longer than the nodes' write timeout (5 s), so the leader answers first.
    /// </summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(10);
}
