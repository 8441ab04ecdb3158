namespace AspireCache.Node.StateMachine;

/// <summary>A state-changing operation carried by the Raft log.</summary>
public abstract record CacheCommand
{
    /// <summary>
    /// The client's <c>Idempotency-Key</c>: apply records the result under it and answers a repeat
    /// with that result instead of applying the command again (exactly-once across retries).
    /// </summary>
    public string? IdempotencyKey { get; init; }

    /// <summary>
    /// The name of the credential that made the write (client writes with auth on; <c>null</c>
    /// otherwise and for leader-decided removals). Replicated with the command, reported with its
    /// changes (watch events' <c>writer</c>); not part of the idempotency fingerprint.
    /// </summary>
    public string? Writer { get; init; }
}

/// <summary>Version conditions checked by apply, atomically with the change (compare-and-set).</summary>
public static class ExpectedVersion
{
    /// <summary>The key must not exist (<c>If-None-Match: *</c>).</summary>
    public const long Absent = 0;

    /// <summary>The key must exist, whatever its version (<c>If-Match: *</c>).</summary>
    public const long Any = -1;

    public static bool Holds(long expected, CacheEntry? current) => expected switch
    {
        Absent => current is null,
        Any => current is not null,
        _ => current?.Version == expected,
    };
}

/// <summary>Stores <paramref name="Value"/> under <paramref name="Key"/>.</summary>
public sealed record SetCommand(string Key, ReadOnlyMemory<byte> Value) : CacheCommand
{
    /// <summary>Compare-and-set: see <see cref="StateMachine.ExpectedVersion"/>; <c>null</c> = unconditional.</summary>
    public long? ExpectedVersion { get; init; }

    /// <summary>Time to live from the entry's (leader) timestamp; 0 = never expires.</summary>
    public long TtlMs { get; init; }

    /// <summary>Pinned keys are never evicted under memory pressure (configuration, say).</summary>
    public bool Pinned { get; init; }
}

/// <summary>Removes <paramref name="Key"/>; applying it to an absent key reports NotFound.</summary>
public sealed record DeleteCommand(string Key) : CacheCommand
{
    public long? ExpectedVersion { get; init; }
}

/// <summary>All sets and deletes take effect together at one revision, or none do.</summary>
public sealed record BatchCommand(IReadOnlyList<KeyValuePair<string, ReadOnlyMemory<byte>>> Sets, IReadOnlyList<string> Deletes) : CacheCommand
{
    /// <summary>Per-key version conditions: if any fails, nothing in the batch is applied.</summary>
    public IReadOnlyList<KeyValuePair<string, long>> Conditions { get; init; } = [];
}

/// <summary>Why the leader removes keys on its own.</summary>
public enum RemovalReason : byte
{
    Expired = 1,
    Evicted = 2,
}

/// <summary>
/// Leader-decided removals (TTL expiry, LRU eviction), each key at the version the leader saw: a key
/// written again since then is left alone. Every replica removes exactly the same keys.
/// </summary>
public sealed record RemoveCommand(IReadOnlyList<KeyValuePair<string, long>> Keys, RemovalReason Reason) : CacheCommand;

/// <summary>
/// The payload of one Raft log entry: the commands, in order, and the leader's clock at proposal
/// time. Apply uses this timestamp, never a replica's own clock, so replicas stay identical.
/// </summary>
public sealed record CommandBatch(long TimestampUnixMs, IReadOnlyList<CacheCommand> Commands);

/// <summary>What applying one command did.</summary>
public enum CommandOutcome : byte
{
    Created = 1,
    Updated = 2,
    Deleted = 3,
    NotFound = 4,
    BatchApplied = 5,

    /// <summary>The idempotency key was already used by a different request.</summary>
    IdempotencyConflict = 6,

    /// <summary>A version condition did not hold; nothing was changed.</summary>
    PreconditionFailed = 7,

    /// <summary>A <see cref="RemoveCommand"/> was applied (possibly removing nothing).</summary>
    Removed = 8,
}

/// <summary>The result of one command, handed back to the client that proposed it.</summary>
/// <param name="Outcome">What happened.</param>
/// <param name="Revision">The revision the command produced (the key's new version); for a failed
/// condition, the key's current version (0 if absent); otherwise the current revision.</param>
/// <param name="Replayed">The result was recorded earlier under the command's idempotency key; nothing was applied now.</param>
/// <param name="FailedKey">For a failed batch condition: the key whose condition failed.</param>
public readonly record struct CommandResult(CommandOutcome Outcome, long Revision, bool Replayed = false, string? FailedKey = null);
