namespace AspireCache.Contracts;

/// <summary>HTTP header names of the AspireCache API (requests and answers).</summary>
public static class CacheHeaders
{
    /// <summary>Answer: <c>linearizable</c> or <c>stale</c>.</summary>
    public const string Consistency = "X-AspireCache-Consistency";

    /// <summary>Answer: the log index the serving node had applied when it read.</summary>
    public const string AppliedIndex = "X-AspireCache-Applied-Index";

    /// <summary>Answer to a stale read: the commit index the serving node had heard of.</summary>
    public const string CommitIndex = "X-AspireCache-Commit-Index";

    /// <summary>Answer to a linearizable read: the confirmed read index it waited for.</summary>
    public const string ReadIndex = "X-AspireCache-Read-Index";

    /// <summary>Answer: milliseconds left before the value expires.</summary>
    /// <summary>
    /// On a read (GET of a key, a list page): the state revision the answer was taken from. The key's
    /// value (or its absence) is exactly its state at that revision: no change to the key lies between
    /// its version and this revision. A near cache may keep the answer and apply the watch's changes
    /// after it.
    /// </summary>
    public const string Revision = "X-AspireCache-Revision";

    public const string TtlMs = "X-AspireCache-Ttl-Ms";

    /// <summary>A version as its <c>ETag</c>: quoted decimal (<c>"42"</c>).</summary>
    public static string ETagOf(long version) => string.Concat("\"", version.ToString(System.Globalization.CultureInfo.InvariantCulture), "\"");

    /// <summary>Request: one key per logical write; a retry with the same key is applied once.</summary>
    public const string IdempotencyKey = "Idempotency-Key";

    /// <summary>Answer: <c>true</c> when the result was recorded earlier under the request's idempotency key.</summary>
    public const string Replayed = "Idempotent-Replayed";

    /// <summary>Answer to a write that reached a follower (421): the leader's node id.</summary>
    public const string Leader = "X-AspireCache-Leader";

    /// <summary>Answer to a write that reached a follower (421): the leader's base URL.</summary>
    public const string LeaderUrl = "X-AspireCache-Leader-Url";

    /// <summary>Answer: the node that answered.</summary>
    public const string Node = "X-AspireCache-Node";

    /// <summary>Answer: <c>leader</c> or <c>follower</c>.</summary>
    public const string Role = "X-AspireCache-Role";

    /// <summary>Answer to <c>GET /cache/watch</c>: the stream's id (for on-demand progress).</summary>
    public const string WatchId = "X-AspireCache-Watch-Id";

    /// <summary>Request (Server-Sent Events): resume a watch after this revision.</summary>
    public const string LastEventId = "Last-Event-ID";

    /// <summary>
    /// Request <c>POST /cluster/write-batch</c>: how many writes the batch carries. The router's rate
    /// limiter charges one permit per write (as many as a batch may carry without it); a node refuses a
    /// batch whose count differs (400).
    /// </summary>
    public const string BatchWrites = "X-AspireCache-Batch-Writes";

    /// <summary>The count a <see cref="BatchWrites"/> header declares (one value, decimal digits only, 1 or more).</summary>
    public static bool TryParseBatchWrites(string? value, out int count) =>
        int.TryParse(value, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out count) && count > 0;
}

/// <summary>Paths of the AspireCache API.</summary>
public static class CachePaths
{
    /// <summary><c>/cache/{key}</c>: GET, PUT, DELETE a key; <c>/cache?prefix=</c> lists.</summary>
    public const string Keys = "/cache";

    public const string Batch = "/cache/batch";

    public const string Watch = "/cache/watch";

    public const string HotKeys = "/cache/hot";

    public const string ClusterStatus = "/cluster/status";

    /// <summary>Long-poll for leader changes.</summary>
    public const string ClusterWatch = "/cluster/watch";

    /// <summary>
    /// Top-level names that are endpoints under <c>/cache/</c> (<c>hot</c>, <c>batch</c>,
    /// <c>watch</c>): they can never be written as keys.
    /// </summary>
    public static bool IsReservedKey(string key) => key is "hot" or "batch" or "watch";

    /// <summary><c>/cache/watch/{streamId}/progress</c>.</summary>
    public static string WatchProgress(string streamId) => $"/cache/watch/{Uri.EscapeDataString(streamId)}/progress";
}
