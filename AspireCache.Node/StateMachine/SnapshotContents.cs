namespace AspireCache.Node.StateMachine;

/// <summary>Everything a snapshot restores, read into new objects (the live state is swapped only once all of it was read).</summary>
/// <param name="View">The entries and revision.</param>
/// <param name="Idempotency">The idempotency records, in their original order.</param>
/// <param name="SizeBytes">Accounted bytes of the entries (<see cref="CacheEntry.SizeOf"/> summed).</param>
/// <param name="Expiries">The entries with a TTL, for the expiry index.</param>
public sealed record SnapshotContents(StateView View, IdempotencyTable Idempotency, long SizeBytes, List<(long ExpiresUnixMs, string Key)> Expiries);
