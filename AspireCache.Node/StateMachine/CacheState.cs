using System.Buffers.Binary;
using System.Collections.Immutable;

namespace AspireCache.Node.StateMachine;

/// <summary>One stored value with its metadata.</summary>
/// <param name="Value">The raw value bytes (never mutated after creation).</param>
/// <param name="Version">The revision of the last write to this key: the key's ETag.</param>
/// <param name="CreatedUnixMs">Leader timestamp of the write that created the key.</param>
/// <param name="UpdatedUnixMs">Leader timestamp of the last write.</param>
public sealed record CacheEntry(ReadOnlyMemory<byte> Value, long Version, long CreatedUnixMs, long UpdatedUnixMs);

/// <summary>
/// The replicated key-value state: a pure function of the commands applied to it, in log order.
/// It knows nothing of HTTP, Raft roles or clocks. Writers (the single apply loop) publish a new
/// immutable map per command; readers take the current map without locks, so a read sees either
/// all of a batch or none of it, and a snapshot is a consistent view for free (copy-on-write).
/// </summary>
public sealed class CacheState
{
    private const byte SnapshotFormatVersion = 2;

    private ImmutableDictionary<string, CacheEntry> _entries = ImmutableDictionary.Create<string, CacheEntry>(StringComparer.Ordinal);
    private long _revision;
    private long _sizeBytes;

    /// <summary>Advances by one for every command that changed something (etcd's revision).</summary>
    public long Revision => Volatile.Read(ref _revision);

    public int Count => _entries.Count;

    /// <summary>Recorded results of idempotent writes (replicated, snapshotted). Touched only by apply and snapshots.</summary>
    public IdempotencyTable Idempotency { get; } = new();

    /// <summary>Bytes of keys and values currently stored.</summary>
    public long SizeBytes => Volatile.Read(ref _sizeBytes);

    public bool TryGet(string key, out CacheEntry entry)
    {
        if (Volatile.Read(ref _entries).TryGetValue(key, out var found))
        {
            entry = found;
            return true;
        }

        entry = null!;
        return false;
    }

    /// <summary>An immutable view of every entry (for snapshots and tests).</summary>
    public ImmutableDictionary<string, CacheEntry> View => Volatile.Read(ref _entries);

    /// <summary>Applies the commands of one log entry in order; one result per command.</summary>
    public CommandResult[] Apply(CommandBatch batch)
    {
        var results = new CommandResult[batch.Commands.Count];
        for (var i = 0; i < results.Length; i++)
        {
            results[i] = Apply(batch.Commands[i], batch.TimestampUnixMs);
        }

        return results;
    }

    private CommandResult Apply(CacheCommand command, long timestamp)
    {
        if (command.IdempotencyKey is not { } idempotencyKey)
        {
            return ApplyCommand(command, timestamp);
        }

        Idempotency.Expire(timestamp);
        var fingerprint = IdempotencyTable.Fingerprint(command);
        if (Idempotency.TryGet(idempotencyKey, out var recorded))
        {
            return recorded.Fingerprint == fingerprint
                ? recorded.Result with { Replayed = true }
                : new CommandResult(CommandOutcome.IdempotencyConflict, _revision);
        }

        var result = ApplyCommand(command, timestamp);
        Idempotency.Add(idempotencyKey, new IdempotencyTable.Record(fingerprint, result, timestamp));
        return result;
    }

    private CommandResult ApplyCommand(CacheCommand command, long timestamp)
    {
        switch (command)
        {
            case SetCommand set:
                {
                    var revision = _revision + 1;
                    var created = Set(ref _entries, set.Key, set.Value, revision, timestamp);
                    Publish(revision);
                    return new(created ? CommandOutcome.Created : CommandOutcome.Updated, revision);
                }

            case DeleteCommand delete:
                {
                    if (!_entries.ContainsKey(delete.Key))
                    {
                        return new(CommandOutcome.NotFound, _revision);
                    }

                    var revision = _revision + 1;
                    Remove(ref _entries, delete.Key);
                    Publish(revision);
                    return new(CommandOutcome.Deleted, revision);
                }

            case BatchCommand { Sets.Count: 0, Deletes.Count: 0 }:
                // A barrier: nothing changes, the revision stays.
                return new(CommandOutcome.BatchApplied, _revision);

            case BatchCommand batch:
                {
                    var revision = _revision + 1;
                    var builder = _entries.ToBuilder();
                    foreach (var (key, value) in batch.Sets)
                    {
                        Set(builder, key, value, revision, timestamp);
                    }

                    foreach (var key in batch.Deletes)
                    {
                        if (builder.Remove(key, out var old))
                        {
                            _sizeBytes -= SizeOf(key, old.Value);
                        }
                    }

                    // One publication: readers never observe half a batch.
                    Volatile.Write(ref _entries, builder.ToImmutable());
                    Publish(revision);
                    return new(CommandOutcome.BatchApplied, revision);
                }

            default:
                throw new CommandFormatException($"Unknown command {command.GetType().Name}.");
        }
    }

    private bool Set(ref ImmutableDictionary<string, CacheEntry> entries, string key, ReadOnlyMemory<byte> value, long revision, long timestamp)
    {
        var created = !entries.TryGetValue(key, out var old);
        var entry = new CacheEntry(value, revision, created ? timestamp : old!.CreatedUnixMs, timestamp);
        _sizeBytes += SizeOf(key, value) - (created ? 0 : SizeOf(key, old!.Value));
        Volatile.Write(ref entries, entries.SetItem(key, entry));
        return created;
    }

    private void Set(ImmutableDictionary<string, CacheEntry>.Builder builder, string key, ReadOnlyMemory<byte> value, long revision, long timestamp)
    {
        var created = !builder.TryGetValue(key, out var old);
        builder[key] = new CacheEntry(value, revision, created ? timestamp : old!.CreatedUnixMs, timestamp);
        _sizeBytes += SizeOf(key, value) - (created ? 0 : SizeOf(key, old!.Value));
    }

    private void Remove(ref ImmutableDictionary<string, CacheEntry> entries, string key)
    {
        if (entries.TryGetValue(key, out var old))
        {
            _sizeBytes -= SizeOf(key, old.Value);
            Volatile.Write(ref entries, entries.Remove(key));
        }
    }

    private void Publish(long revision) => Volatile.Write(ref _revision, revision);

    private static long SizeOf(string key, ReadOnlyMemory<byte> value) => (key.Length * 2L) + value.Length;

    /// <summary>
    /// Writes a consistent snapshot of <paramref name="view"/> at <paramref name="revision"/>, then
    /// the idempotency table (<paramref name="idempotency"/> must not change meanwhile: DotNext does
    /// not apply while a snapshot is persisted).
    /// </summary>
    public static async ValueTask WriteSnapshotAsync(ImmutableDictionary<string, CacheEntry> view, long revision, IdempotencyTable? idempotency, Stream output, CancellationToken token)
    {
        var header = new byte[13];
        header[0] = SnapshotFormatVersion;
        BinaryPrimitives.WriteInt64LittleEndian(header.AsSpan(1), revision);
        BinaryPrimitives.WriteInt32LittleEndian(header.AsSpan(9), view.Count);
        await output.WriteAsync(header, token);

        // Each record is encoded as a single-command batch so the snapshot reuses the log's codec.
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(4096);
        var meta = new byte[24];
        foreach (var (key, entry) in view)
        {
            buffer.ResetWrittenCount();
            CommandCodec.Encode(new CommandBatch(0, [new SetCommand(key, entry.Value)]), buffer);
            BinaryPrimitives.WriteInt64LittleEndian(meta, entry.Version);
            BinaryPrimitives.WriteInt64LittleEndian(meta.AsSpan(8), entry.CreatedUnixMs);
            BinaryPrimitives.WriteInt64LittleEndian(meta.AsSpan(16), entry.UpdatedUnixMs);
            var length = new byte[4];
            BinaryPrimitives.WriteInt32LittleEndian(length, buffer.WrittenCount);
            await output.WriteAsync(length, token);
            await output.WriteAsync(buffer.WrittenMemory, token);
            await output.WriteAsync(meta, token);
        }

        var records = idempotency?.Entries().ToList() ?? [];
        var count = new byte[4];
        BinaryPrimitives.WriteInt32LittleEndian(count, records.Count);
        await output.WriteAsync(count, token);
        var record = new byte[8 + 1 + 8 + 8];
        foreach (var (key, value) in records)
        {
            buffer.ResetWrittenCount();
            CommandCodec.Encode(new CommandBatch(0, [new DeleteCommand(key)]), buffer);
            var length = new byte[4];
            BinaryPrimitives.WriteInt32LittleEndian(length, buffer.WrittenCount);
            await output.WriteAsync(length, token);
            await output.WriteAsync(buffer.WrittenMemory, token);
            BinaryPrimitives.WriteUInt64LittleEndian(record, value.Fingerprint);
            record[8] = (byte)value.Result.Outcome;
            BinaryPrimitives.WriteInt64LittleEndian(record.AsSpan(9), value.Result.Revision);
            BinaryPrimitives.WriteInt64LittleEndian(record.AsSpan(17), value.RecordedUnixMs);
            await output.WriteAsync(record, token);
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
        var builder = ImmutableDictionary.CreateBuilder<string, CacheEntry>(StringComparer.Ordinal);
        long size = 0;
        var length = new byte[4];
        var meta = new byte[24];
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

            builder[set.Key] = new CacheEntry(
                set.Value,
                BinaryPrimitives.ReadInt64LittleEndian(meta),
                BinaryPrimitives.ReadInt64LittleEndian(meta.AsSpan(8)),
                BinaryPrimitives.ReadInt64LittleEndian(meta.AsSpan(16)));
            size += SizeOf(set.Key, set.Value);
        }

        Idempotency.Clear();
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

            Idempotency.Add(key, new IdempotencyTable.Record(
                BinaryPrimitives.ReadUInt64LittleEndian(record),
                new CommandResult((CommandOutcome)record[8], BinaryPrimitives.ReadInt64LittleEndian(record.AsSpan(9))),
                BinaryPrimitives.ReadInt64LittleEndian(record.AsSpan(17))));
        }

        Volatile.Write(ref _entries, builder.ToImmutable());
        Volatile.Write(ref _sizeBytes, size);
        Volatile.Write(ref _revision, revision);
    }
}
