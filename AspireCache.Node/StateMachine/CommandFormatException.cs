namespace AspireCache.Node.StateMachine;

/// <summary>A payload (log entry or snapshot) could not be decoded: wrong format version, truncated, or corrupt.</summary>
public sealed class CommandFormatException(string message) : FormatException(message)
{
    /// <summary>
    /// The bytes are not what the leader wrote, or not in a format this node knows: a version-2 entry
    /// whose checksum does not match (or too short to carry one), or an unknown format version. Unlike
    /// a checksum-valid entry that fails to parse (every replica holds the same bytes and refuses them
    /// the same way), such an entry may be readable on other replicas, so a replica must not skip it.
    /// </summary>
    public bool Unreadable { get; init; }
}
