namespace AspireCache.Node.StateMachine;

/// <summary>A state-changing operation carried by the Raft log.</summary>
public abstract record CacheCommand
{
    /// <summary>
    /// The client's <c>Idempotency-Key</c>: apply records the result under it and answers a repeat
    /// with that result instead of applying the command again (exactly-once across retries).
    /// </summary>
    public string? IdempotencyKey { get; init; }
}

/// <summary>Stores <paramref name="Value"/> under <paramref name="Key"/>.</summary>
public sealed record SetCommand(string Key, ReadOnlyMemory<byte> Value) : CacheCommand;

/// <summary>Removes <paramref name="Key"/>; applying it to an absent key reports NotFound.</summary>
public sealed record DeleteCommand(string Key) : CacheCommand;

/// <summary>All sets and deletes take effect together at one revision, or none do.</summary>
public sealed record BatchCommand(IReadOnlyList<KeyValuePair<string, ReadOnlyMemory<byte>>> Sets, IReadOnlyList<string> Deletes) : CacheCommand;

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
}

/// <summary>The result of one command, handed back to the client that proposed it.</summary>
/// <param name="Outcome">What happened.</param>
/// <param name="Revision">The revision the command produced (the key's new version), or the current revision if nothing changed.</param>
/// <param name="Replayed">The result was recorded earlier under the command's idempotency key; nothing was applied now.</param>
public readonly record struct CommandResult(CommandOutcome Outcome, long Revision, bool Replayed = false);
