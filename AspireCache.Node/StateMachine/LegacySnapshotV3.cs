using System.Buffers.Binary;

namespace AspireCache.Node.StateMachine;

/// <summary>
/// Reads version-3 snapshots (written before <see cref="SnapshotFormat"/>'s version 4), whose records
/// borrowed the log's codec:
/// <code>
/// header := version:u8 (3) revision:i64 entryCount:i32
/// entry  := len:i32 payload (a log entry: one SetCommand of key and value, timestamp 0) version:i64 created:i64 updated:i64 expires:i64 pinned:u8
/// idem   := (after idemCount:i32) len:i32 payload (a log entry: one DeleteCommand of the idempotency key) fingerprint:u64 outcome:u8 revision:i64 recorded:i64
/// </code>
/// Read only: nothing writes version 3 any more. A batch's failed key was not stored (restored as none).
/// </summary>
internal static class LegacySnapshotV3
{
    public const byte Version = 3;

    private const int MetaBytes = 33;
    private const int IdempotencyBytes = 25;

    /// <summary>Reads what follows the header (<see cref="SnapshotFormat.HeaderBytes"/>, already read).</summary>
    public static async ValueTask<SnapshotContents> ReadAsync(Stream input, long revision, int count, IdempotencyLimits limits, CancellationToken token)
    {
        var state = new SnapshotAccumulator();
        var length = new byte[4];
        var meta = new byte[MetaBytes];
        for (var i = 0; i < count; i++)
        {
            var encoded = new byte[await ReadLengthAsync(input, length, token)];
            await input.ReadExactlyAsync(encoded, token);
            await input.ReadExactlyAsync(meta, token);
            if (CommandCodec.Decode(encoded).Commands is not [SetCommand set])
            {
                throw new CommandFormatException("Snapshot record is not a single set.");
            }

            state.Add(set.Key, new CacheEntry(
                set.Value,
                BinaryPrimitives.ReadInt64LittleEndian(meta),
                BinaryPrimitives.ReadInt64LittleEndian(meta.AsSpan(8)),
                BinaryPrimitives.ReadInt64LittleEndian(meta.AsSpan(16)),
                BinaryPrimitives.ReadInt64LittleEndian(meta.AsSpan(24)),
                meta[32] != 0));
        }

        var idempotency = new IdempotencyTable(limits);
        await input.ReadExactlyAsync(length, token);
        var records = BinaryPrimitives.ReadInt32LittleEndian(length);
        var record = new byte[IdempotencyBytes];
        for (var i = 0; i < records; i++)
        {
            var encodedKey = new byte[await ReadLengthAsync(input, length, token)];
            await input.ReadExactlyAsync(encodedKey, token);
            await input.ReadExactlyAsync(record, token);
            if (CommandCodec.Decode(encodedKey).Commands is not [DeleteCommand { Key: var key }])
            {
                throw new CommandFormatException("Snapshot idempotency record is malformed.");
            }

            idempotency.Add(key, new IdempotencyTable.Record(
                BinaryPrimitives.ReadUInt64LittleEndian(record),
                new CommandResult(SnapshotFormat.ReadOutcome(record[8]), BinaryPrimitives.ReadInt64LittleEndian(record.AsSpan(9))),
                BinaryPrimitives.ReadInt64LittleEndian(record.AsSpan(17))));
        }

        return state.Build(revision, idempotency);
    }

    private static async ValueTask<int> ReadLengthAsync(Stream input, byte[] length, CancellationToken token)
    {
        await input.ReadExactlyAsync(length, token);
        var value = BinaryPrimitives.ReadInt32LittleEndian(length);
        return value is >= 0 and <= WireFormat.MaxFieldLength ? value : throw new CommandFormatException($"Snapshot record length {value} is out of range.");
    }
}
