namespace AspireCache.Client;

/// <summary>How a read is served.</summary>
public enum Consistency
{
    /// <summary>The default: the serving node waits for a read index the current leader confirmed with a quorum (no stale value, ever).</summary>
    Linearizable,

    /// <summary>
    /// <c>consistent=false</c>: the serving node's local state at once (may lag; still served by a
    /// node cut off from the leader). With a near cache, whatever it holds for a cached key, however old.
    /// </summary>
    Stale,

    /// <summary>
    /// Linearizable, answered from the near cache when it can prove it is current: one shared,
    /// small progress request per round trip for any number of concurrent reads, and no value on the
    /// network (see <see cref="NearCacheOptions"/>). Without a near cache, or for keys it does not
    /// cache, the same as <see cref="Linearizable"/>.
    /// </summary>
    LinearizableNearCache,

    /// <summary>
    /// Every write acknowledged more than <see cref="ReadOptions.MaxStaleness"/> (or
    /// <see cref="NearCacheOptions.MaxStaleness"/>) before the read began is visible; answered from
    /// the near cache with no round trip while its last confirmed progress is that young. Without a
    /// near cache, or for keys it does not cache, the same as <see cref="Linearizable"/>.
    /// </summary>
    BoundedStaleness,
}

/// <summary>Options of the client as a whole (<see cref="AspireCacheClient"/>).</summary>
public sealed class AspireCacheClientOptions
{
    /// <summary>
    /// Time allowed for one logical call, all its retries included (default 10 s). A call can
    /// override it (<see cref="CallOptions.Deadline"/>).
    /// </summary>
    public TimeSpan Deadline { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Longest pause between two attempts, whatever a <c>Retry-After</c> asks for (default 1 s).</summary>
    public TimeSpan MaxRetryDelay { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>First pause after a failure without <c>Retry-After</c> (doubled per attempt up to <see cref="MaxRetryDelay"/>; default 50 ms).</summary>
    public TimeSpan InitialRetryDelay { get; set; } = TimeSpan.FromMilliseconds(50);

    /// <summary>
    /// Follow <c>X-AspireCache-Leader-Url</c> of a 421 answer for the next attempt of that call
    /// (default <c>true</c>). Turn it off when node URLs are not reachable from the client
    /// (only the router is); a 421 is then retried through the base address.
    /// </summary>
    public bool FollowLeaderUrl { get; set; } = true;

    /// <summary>A credential sent as <c>Authorization: Bearer</c> on every request, if set.</summary>
    public string? Credential { get; set; }

    /// <summary>
    /// Direct mode: the nodes' client-facing URLs. When set, the client sends writes and linearizable
    /// reads to the leader (learnt from <c>/cluster/watch</c>; see <see cref="LinearizableReadsToLeader"/>)
    /// and stale reads and watches to the nearest healthy node (by measured round trip), with no router
    /// hop; the HttpClient's BaseAddress is then not used. Empty (the default): every call goes to the
    /// BaseAddress (the router).
    /// </summary>
    public IList<Uri> Nodes { get; set; } = [];

    /// <summary>
    /// Direct mode: linearizable reads go to the leader while it is known and healthy (default
    /// <c>true</c>), as the router sends them (<c>Router:LinearizableReadsToLeader</c>). Any node serves
    /// them correctly, but a follower asks the leader for every read index: the leader answers sooner
    /// and with less CPU in all (bench/read-targets.sh: ~40% less node CPU per read). Turn it off to
    /// keep reads on the nearest node when the leader is far away (another region) and values are large.
    /// </summary>
    public bool LinearizableReadsToLeader { get; set; } = true;

    /// <summary>
    /// Reads that arrive while a read of this client is in flight to the same target (the router, or
    /// in direct mode the same node) go together as one request when it is over (default <c>true</c>),
    /// as the router coalesces for the clients behind it: one exchange and one read index instead of
    /// one each, each read still linearizable (or stale, as asked) and answered as its own GET would
    /// be. The first read to an idle target goes at once as its own GET. Turn it off to send every
    /// read as its own GET.
    /// </summary>
    public bool CoalesceReads { get; set; } = true;

    /// <summary>
    /// Single-key writes (<see cref="IAspireCacheClient.SetAsync"/>, <see cref="IAspireCacheClient.DeleteAsync"/>)
    /// that arrive while a write of this client is in flight to the same target (the router, or in
    /// direct mode the leader) go together as one request when it is over (default <c>true</c>), as the
    /// router coalesces for the clients behind it: one exchange instead of one each, and one log entry.
    /// Not atomic: each write keeps its own conditions, TTL and idempotency key and is answered as its
    /// own request would be. The first write to an idle target goes at once on its own. Turn it off to
    /// send every write as its own request.
    /// </summary>
    public bool CoalesceWrites { get; set; } = true;

    /// <summary>The near cache (off when null): which keys, its bounds, its staleness default.</summary>
    public NearCacheOptions? NearCache { get; set; }

    /// <summary>Consistency of reads that do not name one (default <see cref="Consistency.Linearizable"/>).</summary>
    public Consistency DefaultConsistency { get; set; } = Consistency.Linearizable;
}

/// <summary>Per-call options common to every operation.</summary>
public class CallOptions
{
    /// <summary>Overrides <see cref="AspireCacheClientOptions.Deadline"/> for this call.</summary>
    public TimeSpan? Deadline { get; set; }
}

/// <summary>Options of a read (<see cref="IAspireCacheClient.GetAsync"/>, listing).</summary>
public sealed class ReadOptions : CallOptions
{
    /// <summary>How the read is served; null = <see cref="AspireCacheClientOptions.DefaultConsistency"/> (linearizable unless set).</summary>
    public Consistency? Consistency { get; set; }

    /// <summary>The bound of a <see cref="Client.Consistency.BoundedStaleness"/> read (default <see cref="NearCacheOptions.MaxStaleness"/>).</summary>
    public TimeSpan? MaxStaleness { get; set; }
}

/// <summary>Options of a write (<see cref="IAspireCacheClient.SetAsync"/>).</summary>
public sealed class SetOptions : CallOptions
{
    /// <summary>Time to live (<c>?ttl=</c>, rounded to milliseconds); none by default.</summary>
    public TimeSpan? Ttl { get; set; }

    /// <summary>Exempt the key from LRU eviction (<c>?pin=true</c>).</summary>
    public bool Pin { get; set; }

    /// <summary>Compare-and-set: write only if the key is at this version (<c>If-Match: "v"</c>); else <see cref="PreconditionFailedException"/>.</summary>
    public long? IfVersion { get; set; }

    /// <summary>Create only: write only if the key is absent (<c>If-None-Match: *</c>); else <see cref="PreconditionFailedException"/>.</summary>
    public bool IfAbsent { get; set; }
}
