namespace AspireCache.Client;

/// <summary>How a read is served.</summary>
public enum Consistency
{
    /// <summary>The default: the serving node waits for a read index the current leader confirmed with a quorum (no stale value, ever).</summary>
    Linearizable,

    /// <summary><c>consistent=false</c>: the serving node's local state at once (may lag; still served by a node cut off from the leader).</summary>
    Stale,
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
    /// <summary>Linearizable (default) or stale.</summary>
    public Consistency Consistency { get; set; } = Consistency.Linearizable;
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
