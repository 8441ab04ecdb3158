namespace AspireCache.Contracts;

/// <summary>Answer to a successful PUT.</summary>
public sealed record WriteResponse(string Key, long Version, bool Created);

/// <summary><c>POST /cache/batch</c> body: values are base64. All-or-nothing.</summary>
public sealed class BatchRequest
{
    public Dictionary<string, string>? Set { get; set; }

    public List<string>? Delete { get; set; }

    /// <summary>Per-key conditions: key → version (0 = must be absent, -1 = must exist). Any failing → 412, nothing applied.</summary>
    public Dictionary<string, long>? If { get; set; }
}

/// <summary>
/// <c>POST /cache/hot</c>: reads a client served from its near cache since its last report, key →
/// count. The node counts them as its own reads (hot-key statistics, LRU recency), so that keys a
/// near cache keeps hot are not evicted for looking cold.
/// </summary>
public sealed record AccessReport(Dictionary<string, long> Keys);

public sealed record HotKeyItem(string Key, long EstimatedReads);

/// <summary><c>GET /cache/hot</c>: estimated reads with a decaying half-life, heaviest first.</summary>
public sealed record HotKeysResponse(string NodeId, double HalfLifeSeconds, IReadOnlyList<HotKeyItem> Keys);

/// <summary>One key of a listing page.</summary>
public sealed record ListItem(string Key, long Version, string? Value, int Size, DateTimeOffset? ExpiresAt);

/// <summary>A page of <c>GET /cache?prefix=</c>; <see cref="Next"/> is the <c>after</c> for the next page.</summary>
public sealed record ListResponse(IReadOnlyList<ListItem> Items, string? Next, long Revision);

/// <summary>Answer to a successful batch: every change took effect at <see cref="Version"/>.</summary>
public sealed record BatchResponse(long Version, int Set, int Deleted);

public sealed record MemberStatus(string Id, Uri Url, bool IsLeader, bool IsLocal);

/// <summary>
/// <c>GET /cluster/status</c>. <see cref="LongestLeaderSilenceMs"/>: the longest time this node, following,
/// went without an AppendEntries from its leader since it started (an election starts beyond the election
/// timeout); null until measured. <see cref="Limits"/>: the node's request limits (absent from nodes that
/// predate them).
/// </summary>
public sealed record ClusterStatusResponse(
    string NodeId,
    string Role,
    long Term,
    string? LeaderId,
    Uri? LeaderUrl,
    long CommitIndex,
    long LastIndex,
    long AppliedIndex,
    long Revision,
    int Keys,
    long SizeBytes,
    long SnapshotIndex,
    IReadOnlyList<MemberStatus> Members,
    int ProcessId,
    string? Zone,
    double? LongestLeaderSilenceMs = null,
    RequestLimits? Limits = null);

/// <summary>
/// A node's request limits (<c>Cache:Limits</c>), so that tools can say what the node will refuse before
/// it does: values over <see cref="MaxValueBytes"/> (413), keys over <see cref="MaxKeyBytes"/> UTF-8 bytes
/// (400), batches over <see cref="MaxBatchKeys"/> keys or <see cref="MaxBatchBytes"/> bytes (413), TTLs
/// over <see cref="MaxTtlSeconds"/> (400), list pages over <see cref="MaxListLimit"/> items.
/// </summary>
public sealed record RequestLimits(int MaxValueBytes, int MaxKeyBytes, int MaxBatchKeys, int MaxBatchBytes, long MaxTtlSeconds, int MaxListLimit);

/// <summary>Answer to an on-demand progress request: the stream will send <c>event: progress</c> with this revision.</summary>
public sealed record ProgressResponse(string StreamId, long Revision);

/// <summary>
/// The <c>data:</c> of a watch event (<c>event: put|delete|expire|evict</c>): <see cref="Value"/> is
/// base64 and absent for removals and with <c>values=false</c>; <see cref="ExpiresAt"/> only with a TTL;
/// <see cref="Writer"/> names the credential that made a client write (absent when auth is off, and
/// for expiries and evictions).
/// </summary>
public sealed record ChangeEvent(string Type, string Key, long Revision, string? Value = null, int? Size = null, DateTimeOffset? ExpiresAt = null, string? Writer = null);

/// <summary>The <c>data:</c> of <c>event: progress</c>: every change up to <see cref="Revision"/> was sent.</summary>
public sealed record WatchProgress(long Revision, string StreamId);

/// <summary>The <c>data:</c> of the final <c>event: error</c>: why the node closed the stream and where to resume.</summary>
public sealed record WatchClosed(string Reason, long LastRevision, string Detail);
