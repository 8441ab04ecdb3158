namespace AspireCache.Client;

/// <summary>A key as read: its value, its version (the revision of its last write, the ETag) and its expiry.</summary>
/// <param name="Key">The key.</param>
/// <param name="Value">The value's bytes (empty when listed with <c>values=false</c>).</param>
/// <param name="Version">The revision of the key's last write.</param>
/// <param name="ExpiresAt">When the key expires, if it has a TTL: on this process's clock, the time left that the node reported counted from when the request was sent, so never later than the node's expiry.</param>
public sealed record CacheItem(string Key, ReadOnlyMemory<byte> Value, long Version, DateTimeOffset? ExpiresAt);

/// <summary>What a <see cref="WatchEvent"/> reports.</summary>
public enum WatchEventType
{
    /// <summary>The key was written (or, right after <see cref="Resync"/>, is present in the listed state).</summary>
    Put,

    /// <summary>The key was deleted.</summary>
    Delete,

    /// <summary>The key's TTL ran out.</summary>
    Expire,

    /// <summary>The key was evicted by the memory budget (LRU).</summary>
    Evict,

    /// <summary>Every change up to <see cref="WatchEvent.Revision"/> was delivered (no key).</summary>
    Progress,

    /// <summary>
    /// The server no longer had the history to resume from (410): the client listed the watched
    /// prefixes and keys again. What the consumer knew about them is void; the state follows as
    /// <see cref="Put"/> events (their revision is each key's version), ended by a
    /// <see cref="Progress"/> event; keys not among them no longer exist. Live changes follow.
    /// </summary>
    Resync,
}

/// <summary>One event of <see cref="IAspireCacheClient.WatchAsync"/>.</summary>
/// <param name="Type">What happened.</param>
/// <param name="Key">The key (empty for <see cref="WatchEventType.Progress"/> and <see cref="WatchEventType.Resync"/>).</param>
/// <param name="Revision">The change's revision (all changes of one batch share it); for progress, the revision reached; for resync, the revision the listing was taken at.</param>
/// <param name="Value">The new value for a put (null for removals and when watching without values).</param>
/// <param name="ExpiresAt">The key's expiry, if it has a TTL.</param>
public sealed record WatchEvent(WatchEventType Type, string Key, long Revision, ReadOnlyMemory<byte>? Value = null, DateTimeOffset? ExpiresAt = null)
{
    /// <summary>The name of the credential that made the change (a write on a cluster with authentication on), if known.</summary>
    public string? Writer { get; init; }
}

/// <summary>The keys a watch follows: any number of prefixes and exact keys (at least one in all).</summary>
public sealed class WatchRequest
{
    /// <summary>Key prefixes (<c>prefix=</c>).</summary>
    public IReadOnlyList<string> Prefixes { get; init; } = [];

    /// <summary>Exact keys (<c>key=</c>).</summary>
    public IReadOnlyList<string> Keys { get; init; } = [];

    /// <summary>Resume after this revision (exclusive); null = from now (the first event is a progress at the current revision).</summary>
    public long? AfterRevision { get; init; }

    /// <summary>Whether put events carry values (default <c>true</c>).</summary>
    public bool Values { get; init; } = true;

    /// <summary>Server-side idle progress interval (<c>progressIntervalMs=</c>), or the server default.</summary>
    public TimeSpan? ProgressInterval { get; init; }
}
