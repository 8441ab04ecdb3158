namespace AspireCache.Node.StateMachine;

/// <summary>A payload (log entry or snapshot) could not be decoded: wrong format version, truncated, or corrupt.</summary>
public sealed class CommandFormatException(string message) : FormatException(message);
