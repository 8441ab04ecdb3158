namespace AspireCache.Node.StateMachine;

/// <summary>What happened to a key at a revision.</summary>
public enum ChangeType : byte
{
    /// <summary>Created or updated by a client write (PUT or a batch's set).</summary>
    Put = 1,

    /// <summary>Removed by a client write (DELETE or a batch's delete).</summary>
    Delete = 2,

    /// <summary>Removed by the leader because its TTL passed.</summary>
    Expire = 3,

    /// <summary>Removed by the leader to stay within the memory budget (LRU).</summary>
    Evict = 4,
}

/// <summary>
/// One key's change, as apply made it. Every change of one command shares its revision (a batch, a
/// multi-key expiry); <paramref name="Entry"/> is the new value for a put, <c>null</c> otherwise;
/// <paramref name="Writer"/> the credential that made a client write, when known.
/// </summary>
public readonly record struct Change(ChangeType Type, string Key, long Revision, CacheEntry? Entry, string? Writer = null);

/// <summary>
/// The change-feed seam at apply: the state machine reports each applied log entry's changes once,
/// in revision order, and knows nothing of who listens (watch history and fan-out hang on it).
/// Implementations must not block: they run on the apply loop.
/// </summary>
public interface IChangeFeed
{
    /// <summary>
    /// The changes of one applied log entry, in revision order, and the state's revision after it.
    /// Called for every entry that advanced the revision (its changes may be empty: a batch that
    /// deleted only absent keys).
    /// </summary>
    void Applied(IReadOnlyList<Change> changes, long revision);

    /// <summary>
    /// The state was replaced wholesale at <paramref name="revision"/> (restored on start, or a
    /// snapshot installed from the leader): changes up to it are not known one by one.
    /// </summary>
    void Reset(long revision);
}
