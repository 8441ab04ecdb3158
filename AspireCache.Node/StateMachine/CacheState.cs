using System.Buffers.Binary;
using System.Collections.Immutable;

namespace AspireCache.Node.StateMachine;

/// <summary>One stored value with its metadata.</summary>
/// <param name="Value">The raw value bytes (never mutated after creation).</param>
/// <param name="Version">The revision of the last write to this key: the key's ETag.</param>
/// <param name="CreatedUnixMs">Leader timestamp of the write that created the key.</param>
/// <param name="UpdatedUnixMs">Leader timestamp of the last write.</param>
/// <param name="ExpiresUnixMs">When the value expires (leader time); 0 = never.</param>
/// <param name="Pinned">Never evicted under memory pressure.</param>
public sealed record CacheEntry(ReadOnlyMemory<byte> Value, long Version, long CreatedUnixMs, long UpdatedUnixMs, long ExpiresUnixMs = 0, bool Pinned = false)
{
    public bool IsExpiredAt(long nowUnixMs) => ExpiresUnixMs != 0 && nowUnixMs >= ExpiresUnixMs;
}

/// <summary>
/// An immutable, consistent view of the whole state: the entries and their keys in ordinal order
/// (for prefix listing). Published as one reference, so readers see all of a command or none of it.
/// </summary>
public sealed class StateView(ImmutableDictionary<string, CacheEntry> entries, ImmutableSortedSet<string> keys, long revision)
{
    public static readonly StateView Empty = new(
        ImmutableDictionary.Create<string, CacheEntry>(StringComparer.Ordinal),
        ImmutableSortedSet.Create<string>(StringComparer.Ordinal),
        0);

    public ImmutableDictionary<string, CacheEntry> Entries { get; } = entries;

    public ImmutableSortedSet<string> Keys { get; } = keys;

    public long Revision { get; } = revision;

    public int Count => Entries.Count;

    /// <summary>
    /// Up to <paramref name="limit"/> live keys starting with <paramref name="prefix"/>, in ordinal
    /// order, strictly after <paramref name="after"/> (pagination). O(limit · log n).
    /// </summary>
    public List<KeyValuePair<string, CacheEntry>> List(string prefix, string? after, int limit, long nowUnixMs, out bool more)
    {
        var start = after is not null && string.CompareOrdinal(after, prefix) >= 0 ? after : prefix;
        var index = Keys.IndexOf(start);
        index = index < 0 ? ~index : (start == after ? index + 1 : index);
        var page = new List<KeyValuePair<string, CacheEntry>>(Math.Min(limit, 256));
        more = false;
        for (; index < Keys.Count; index++)
        {
            var key = Keys[index];
            if (!key.StartsWith(prefix, StringComparison.Ordinal))
            {
                break;
            }

            var entry = Entries[key];
            if (entry.IsExpiredAt(nowUnixMs))
            {
                continue;
            }

            if (page.Count == limit)
            {
                more = true;
                break;
            }

            page.Add(new(key, entry));
        }

        return page;
    }
}

/// <summary>
/// The replicated key-value state: a pure function of the commands applied to it, in log order.
/// It knows nothing of HTTP, Raft roles or clocks: time comes from the entry (the leader's clock).
/// The single apply loop publishes a new immutable <see cref="StateView"/> per command; readers
/// take the current view without locks, and a snapshot is a consistent view for free
/// (copy-on-write: persisting it never blocks readers).
/// </summary>
public sealed class CacheState
{
    /// <summary>Accounting overhead per entry (dictionary node, sorted-set node, metadata).</summary>
    public const long EntryOverheadBytes = 96;

    private const byte SnapshotFormatVersion = 3;
    private const int ChunkBytes = 1024 * 1024;

    private readonly Lock _expiryLock = new();
    private readonly SortedSet<(long ExpiresUnixMs, string Key)> _expiries = [];
    private StateView _view = StateView.Empty;
    private long _sizeBytes;

    /// <summary>Advances by one for every command that changed something (etcd's revision).</summary>
    public long Revision => Volatile.Read(ref _view).Revision;

    public int Count => Volatile.Read(ref _view).Count;

    /// <summary>Recorded results of idempotent writes (replicated, snapshotted). Touched only by apply and snapshots.</summary>
    public IdempotencyTable Idempotency { get; private set; } = new();

    /// <summary>Bytes of keys, values and per-entry overhead currently stored.</summary>
    public long SizeBytes => Volatile.Read(ref _sizeBytes);

    /// <summary>The current immutable view.</summary>
    public StateView Current => Volatile.Read(ref _view);

    /// <summary>The current entries (for snapshots and tests).</summary>
    public ImmutableDictionary<string, CacheEntry> View => Current.Entries;

    public bool TryGet(string key, out CacheEntry entry)
    {
        if (Current.Entries.TryGetValue(key, out var found))
        {
            entry = found;
            return true;
        }

        entry = null!;
        return false;
    }

    /// <summary>Keys whose TTL has passed at <paramref name="nowUnixMs"/>, with their versions (for the leader to remove).</summary>
    public List<KeyValuePair<string, long>> ExpiredKeys(long nowUnixMs, int limit)
    {
        var expired = new List<KeyValuePair<string, long>>();
        var view = Current;
        lock (_expiryLock)
        {
            foreach (var (expires, key) in _expiries)
            {
                if (expires > nowUnixMs || expired.Count == limit)
                {
                    break;
                }

                if (view.Entries.TryGetValue(key, out var entry) && entry.ExpiresUnixMs == expires)
                {
                    expired.Add(new(key, entry.Version));
                }
            }
        }

        return expired;
    }

    /// <summary>
    /// Applies the commands of one log entry in order; one result per command. Each key changed is
    /// added to <paramref name="changes"/> (when given) with the revision its command produced.
    /// </summary>
    public CommandResult[] Apply(CommandBatch batch, List<Change>? changes = null)
    {
        var results = new CommandResult[batch.Commands.Count];
        for (var i = 0; i < results.Length; i++)
        {
            results[i] = Apply(batch.Commands[i], batch.TimestampUnixMs, changes);
        }

        return results;
    }

    private CommandResult Apply(CacheCommand command, long timestamp, List<Change>? feed)
    {
        if (command.IdempotencyKey is not { } idempotencyKey)
        {
            return ApplyCommand(command, timestamp, feed);
        }

        Idempotency.Expire(timestamp);
        var fingerprint = IdempotencyTable.Fingerprint(command);
        if (Idempotency.TryGet(idempotencyKey, out var recorded))
        {
            return recorded.Fingerprint == fingerprint
                ? recorded.Result with { Replayed = true }
                : new CommandResult(CommandOutcome.IdempotencyConflict, Revision);
        }

        var result = ApplyCommand(command, timestamp, feed);
        Idempotency.Add(idempotencyKey, new IdempotencyTable.Record(fingerprint, result, timestamp));
        return result;
    }

    private CommandResult ApplyCommand(CacheCommand command, long timestamp, List<Change>? feed)
    {
        var view = Current;
        switch (command)
        {
            case SetCommand set:
                {
                    view.Entries.TryGetValue(set.Key, out var current);
                    if (set.ExpectedVersion is { } expected && !ExpectedVersion.Holds(expected, current))
                    {
                        return new(CommandOutcome.PreconditionFailed, current?.Version ?? 0);
                    }

                    var changes = new Changes(view, feed);
                    var revision = view.Revision + 1;
                    changes.Set(set.Key, set.Value, revision, timestamp, set.TtlMs, set.Pinned);
                    Publish(changes, revision);
                    return new(current is null ? CommandOutcome.Created : CommandOutcome.Updated, revision);
                }

            case DeleteCommand delete:
                {
                    view.Entries.TryGetValue(delete.Key, out var current);
                    if (delete.ExpectedVersion is { } expected && !ExpectedVersion.Holds(expected, current))
                    {
                        return new(CommandOutcome.PreconditionFailed, current?.Version ?? 0);
                    }

                    if (current is null)
                    {
                        return new(CommandOutcome.NotFound, view.Revision);
                    }

                    var revision = view.Revision + 1;
                    var changes = new Changes(view, feed);
                    changes.Remove(delete.Key, revision, ChangeType.Delete);
                    Publish(changes, revision);
                    return new(CommandOutcome.Deleted, revision);
                }

            case BatchCommand { Sets.Count: 0, Deletes.Count: 0 }:
                // A barrier: nothing changes, the revision stays.
                return new(CommandOutcome.BatchApplied, view.Revision);

            case BatchCommand batch:
                {
                    foreach (var (key, expected) in batch.Conditions)
                    {
                        view.Entries.TryGetValue(key, out var current);
                        if (!ExpectedVersion.Holds(expected, current))
                        {
                            return new(CommandOutcome.PreconditionFailed, view.Revision, FailedKey: key);
                        }
                    }

                    var revision = view.Revision + 1;
                    var changes = new Changes(view, feed);
                    foreach (var (key, value) in batch.Sets)
                    {
                        changes.Set(key, value, revision, timestamp, ttlMs: 0, pinned: false);
                    }

                    foreach (var key in batch.Deletes)
                    {
                        changes.Remove(key, revision, ChangeType.Delete);
                    }

                    Publish(changes, revision);
                    return new(CommandOutcome.BatchApplied, revision);
                }

            case RemoveCommand remove:
                {
                    var revision = view.Revision + 1;
                    var type = remove.Reason == RemovalReason.Evicted ? ChangeType.Evict : ChangeType.Expire;
                    var changes = new Changes(view, feed);
                    foreach (var (key, version) in remove.Keys)
                    {
                        if (view.Entries.TryGetValue(key, out var current) && current.Version == version)
                        {
                            changes.Remove(key, revision, type);
                        }
                    }

                    if (!changes.Any)
                    {
                        return new(CommandOutcome.Removed, view.Revision);
                    }

                    Publish(changes, revision);
                    return new(CommandOutcome.Removed, revision);
                }

            default:
                throw new CommandFormatException($"Unknown command {command.GetType().Name}.");
        }
    }

    /// <summary>One publication per command: readers never observe half a batch.</summary>
    private void Publish(Changes changes, long revision)
    {
        _sizeBytes += changes.SizeDelta;

        // Only commands that touch a TTL take the expiry index's lock (most commands do not).
        if (changes.AddedExpiries.Count + changes.RemovedExpiries.Count > 0)
        {
            lock (_expiryLock)
            {
                foreach (var removed in changes.RemovedExpiries)
                {
                    _expiries.Remove(removed);
                }

                foreach (var added in changes.AddedExpiries)
                {
                    _expiries.Add(added);
                }
            }
        }

        Volatile.Write(ref _view, new StateView(changes.Entries.ToImmutable(), changes.Keys.ToImmutable(), revision));
    }

    public static long SizeOf(string key, ReadOnlyMemory<byte> value) => (key.Length * 2L) + value.Length + EntryOverheadBytes;

    /// <summary>Accumulates one command's changes on builders of the current view.</summary>
    private sealed class Changes(StateView view, List<Change>? feed)
    {
        public ImmutableDictionary<string, CacheEntry>.Builder Entries { get; } = view.Entries.ToBuilder();

        public ImmutableSortedSet<string>.Builder Keys { get; } = view.Keys.ToBuilder();

        public long SizeDelta { get; private set; }

        public bool Any { get; private set; }

        public List<(long, string)> AddedExpiries { get; } = [];

        public List<(long, string)> RemovedExpiries { get; } = [];

        public void Set(string key, ReadOnlyMemory<byte> value, long revision, long timestamp, long ttlMs, bool pinned)
        {
            var created = !Entries.TryGetValue(key, out var old);
            var entry = new CacheEntry(value, revision, created ? timestamp : old!.CreatedUnixMs, timestamp, ttlMs > 0 ? timestamp + ttlMs : 0, pinned);
            Entries[key] = entry;
            if (created)
            {
                Keys.Add(key);
            }
            else
            {
                SizeDelta -= SizeOf(key, old!.Value);
                if (old.ExpiresUnixMs != 0)
                {
                    RemovedExpiries.Add((old.ExpiresUnixMs, key));
                }
            }

            if (entry.ExpiresUnixMs != 0)
            {
                AddedExpiries.Add((entry.ExpiresUnixMs, key));
            }

            SizeDelta += SizeOf(key, value);
            Any = true;
            feed?.Add(new Change(ChangeType.Put, key, revision, entry));
        }

        public void Remove(string key, long revision, ChangeType type)
        {
            if (Entries.TryGetValue(key, out var old))
            {
                feed?.Add(new Change(type, key, revision, null));
                Entries.Remove(key);
                Keys.Remove(key);
                SizeDelta -= SizeOf(key, old.Value);
                if (old.ExpiresUnixMs != 0)
                {
                    RemovedExpiries.Add((old.ExpiresUnixMs, key));
                }

                Any = true;
            }
        }
    }

    /// <summary>Writes a snapshot of <paramref name="view"/> and the idempotency table as it is now (callers must not apply meanwhile).</summary>
    public static ValueTask WriteSnapshotAsync(StateView view, IdempotencyTable? idempotency, Stream output, CancellationToken token) =>
        WriteSnapshotAsync(view, idempotency?.Entries().ToArray() ?? [], output, token);

    /// <summary>
    /// Writes a consistent snapshot: the immutable <paramref name="view"/>, then the idempotency
    /// records captured with it. Neither changes while this runs, so applies may go on meanwhile.
    /// </summary>
    public static async ValueTask WriteSnapshotAsync(StateView view, IReadOnlyCollection<(string Key, IdempotencyTable.Record Record)> idempotency, Stream output, CancellationToken token)
    {
        var header = new byte[13];
        header[0] = SnapshotFormatVersion;
        BinaryPrimitives.WriteInt64LittleEndian(header.AsSpan(1), view.Revision);
        BinaryPrimitives.WriteInt32LittleEndian(header.AsSpan(9), view.Count);
        await output.WriteAsync(header, token);

        // Each record is a single-set log payload (the log's codec), its length, and its metadata.
        // Records are encoded synchronously into a chunk that is written out every 1 MiB: no
        // per-record async I/O, no per-record allocation.
        var chunk = new System.Buffers.ArrayBufferWriter<byte>(ChunkBytes + (64 * 1024));
        var record = new System.Buffers.ArrayBufferWriter<byte>(4096);
        foreach (var (key, entry) in view.Entries)
        {
            record.ResetWrittenCount();
            CommandCodec.EncodeSingleSet(key, entry.Value.Span, record);
            var span = chunk.GetSpan(4 + record.WrittenCount + 33);
            BinaryPrimitives.WriteInt32LittleEndian(span, record.WrittenCount);
            record.WrittenSpan.CopyTo(span[4..]);
            var meta = span[(4 + record.WrittenCount)..];
            BinaryPrimitives.WriteInt64LittleEndian(meta, entry.Version);
            BinaryPrimitives.WriteInt64LittleEndian(meta[8..], entry.CreatedUnixMs);
            BinaryPrimitives.WriteInt64LittleEndian(meta[16..], entry.UpdatedUnixMs);
            BinaryPrimitives.WriteInt64LittleEndian(meta[24..], entry.ExpiresUnixMs);
            meta[32] = entry.Pinned ? (byte)1 : (byte)0;
            chunk.Advance(4 + record.WrittenCount + 33);
            if (chunk.WrittenCount >= ChunkBytes)
            {
                await output.WriteAsync(chunk.WrittenMemory, token);
                chunk.ResetWrittenCount();
            }
        }

        await output.WriteAsync(chunk.WrittenMemory, token);
        var buffer = record;
        var length = new byte[4];

        BinaryPrimitives.WriteInt32LittleEndian(length, idempotency.Count);
        await output.WriteAsync(length, token);
        var fixedPart = new byte[25];
        foreach (var (key, value) in idempotency)
        {
            buffer.ResetWrittenCount();
            CommandCodec.Encode(new CommandBatch(0, [new DeleteCommand(key)]), buffer);
            BinaryPrimitives.WriteInt32LittleEndian(length, buffer.WrittenCount);
            await output.WriteAsync(length, token);
            await output.WriteAsync(buffer.WrittenMemory, token);
            BinaryPrimitives.WriteUInt64LittleEndian(fixedPart, value.Fingerprint);
            fixedPart[8] = (byte)value.Result.Outcome;
            BinaryPrimitives.WriteInt64LittleEndian(fixedPart.AsSpan(9), value.Result.Revision);
            BinaryPrimitives.WriteInt64LittleEndian(fixedPart.AsSpan(17), value.RecordedUnixMs);
            await output.WriteAsync(fixedPart, token);
        }
    }

    /// <summary>Replaces this state with the snapshot read from <paramref name="input"/>.</summary>
    public async ValueTask RestoreSnapshotAsync(Stream input, CancellationToken token)
    {
        var header = new byte[13];
        await input.ReadExactlyAsync(header, token);
        if (header[0] != SnapshotFormatVersion)
        {
            throw new CommandFormatException($"Unsupported snapshot format version {header[0]}.");
        }

        var revision = BinaryPrimitives.ReadInt64LittleEndian(header.AsSpan(1));
        var count = BinaryPrimitives.ReadInt32LittleEndian(header.AsSpan(9));
        var entries = ImmutableDictionary.CreateBuilder<string, CacheEntry>(StringComparer.Ordinal);
        var keys = ImmutableSortedSet.CreateBuilder<string>(StringComparer.Ordinal);
        var expiries = new List<(long, string)>();
        long size = 0;
        var length = new byte[4];
        var meta = new byte[33];
        for (var i = 0; i < count; i++)
        {
            await input.ReadExactlyAsync(length, token);
            var encoded = new byte[BinaryPrimitives.ReadInt32LittleEndian(length)];
            await input.ReadExactlyAsync(encoded, token);
            await input.ReadExactlyAsync(meta, token);
            if (CommandCodec.Decode(encoded).Commands is not [SetCommand set])
            {
                throw new CommandFormatException("Snapshot record is not a single set.");
            }

            var entry = new CacheEntry(
                set.Value,
                BinaryPrimitives.ReadInt64LittleEndian(meta),
                BinaryPrimitives.ReadInt64LittleEndian(meta.AsSpan(8)),
                BinaryPrimitives.ReadInt64LittleEndian(meta.AsSpan(16)),
                BinaryPrimitives.ReadInt64LittleEndian(meta.AsSpan(24)),
                meta[32] != 0);
            entries[set.Key] = entry;
            keys.Add(set.Key);
            if (entry.ExpiresUnixMs != 0)
            {
                expiries.Add((entry.ExpiresUnixMs, set.Key));
            }

            size += SizeOf(set.Key, set.Value);
        }

        // Everything is read into new objects and swapped in at the end: a restore that fails or is
        // cancelled half-way (an install from the leader) leaves the current state untouched.
        var idempotency = new IdempotencyTable();
        await input.ReadExactlyAsync(length, token);
        var records = BinaryPrimitives.ReadInt32LittleEndian(length);
        var record = new byte[25];
        for (var i = 0; i < records; i++)
        {
            await input.ReadExactlyAsync(length, token);
            var encodedKey = new byte[BinaryPrimitives.ReadInt32LittleEndian(length)];
            await input.ReadExactlyAsync(encodedKey, token);
            await input.ReadExactlyAsync(record, token);
            if (CommandCodec.Decode(encodedKey).Commands is not [DeleteCommand { Key: var key }])
            {
                throw new CommandFormatException("Snapshot idempotency record is malformed.");
            }

            idempotency.Add(key, new IdempotencyTable.Record(
                BinaryPrimitives.ReadUInt64LittleEndian(record),
                new CommandResult((CommandOutcome)record[8], BinaryPrimitives.ReadInt64LittleEndian(record.AsSpan(9))),
                BinaryPrimitives.ReadInt64LittleEndian(record.AsSpan(17))));
        }

        Idempotency = idempotency;
        lock (_expiryLock)
        {
            _expiries.Clear();
            _expiries.UnionWith(expiries);
        }

        Volatile.Write(ref _sizeBytes, size);
        Volatile.Write(ref _view, new StateView(entries.ToImmutable(), keys.ToImmutable(), revision));
    }
}
