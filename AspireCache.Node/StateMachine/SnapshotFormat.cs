using System.Buffers;
using System.Buffers.Binary;

namespace AspireCache.Node.StateMachine;

/// <summary>
/// The snapshot file: the whole state (entries, revision, idempotency records), independent of the
/// log's command codec. Written in <see cref="Version"/>; read in it and in <see cref="LegacySnapshotV3"/>'s
/// version 3 (snapshots written before it existed). All integers little-endian.
/// <code>
/// snapshot := header entry{entryCount} idemCount:i32 idem{idemCount}
/// header   := version:u8 (4) revision:i64 entryCount:i32                  (the layout of version 3's)
/// entry    := keyLen:i32 valueLen:i32 version:i64 created:i64 updated:i64 expires:i64 flags:u8 key value
///             (flags: 0x01 pinned; key: strict UTF-8; times: leader Unix ms, expires 0 = never)
/// idem     := keyLen:i32 failedKeyLen:i32 (-1: none) fingerprint:u64 outcome:u8 revision:i64 recorded:i64 key failedKey
/// </code>
/// Idempotency records are in insertion (log) order, so the oldest is forgotten first after a restore too.
/// </summary>
public static class SnapshotFormat
{
    /// <summary>The version written.</summary>
    public const byte Version = 4;

    /// <summary>Bytes of the header shared by versions 3 and 4.</summary>
    internal const int HeaderBytes = 13;

    private const int EntryFixedBytes = 41;
    private const int IdempotencyFixedBytes = 33;
    private const byte Pinned = 0x01;
    private const int ChunkBytes = 1024 * 1024;

    /// <summary>
    /// Writes a consistent snapshot: the immutable <paramref name="view"/>, then the idempotency records
    /// captured with it. Neither changes while this runs, so applies may go on meanwhile. Records are
    /// encoded synchronously into a chunk written out every 1 MiB: no per-record async I/O or allocation.
    /// </summary>
    public static async ValueTask WriteAsync(StateView view, IReadOnlyCollection<(string Key, IdempotencyTable.Record Record)> idempotency, Stream output, CancellationToken token)
    {
        var chunk = new ArrayBufferWriter<byte>(ChunkBytes + (64 * 1024));
        var header = chunk.GetSpan(HeaderBytes);
        header[0] = Version;
        BinaryPrimitives.WriteInt64LittleEndian(header[1..], view.Revision);
        BinaryPrimitives.WriteInt32LittleEndian(header[9..], view.Count);
        chunk.Advance(HeaderBytes);

        foreach (var (key, entry) in view.Entries)
        {
            WriteEntry(chunk, key, entry);
            if (chunk.WrittenCount >= ChunkBytes)
            {
                await output.WriteAsync(chunk.WrittenMemory, token);
                chunk.ResetWrittenCount();
            }
        }

        BinaryPrimitives.WriteInt32LittleEndian(chunk.GetSpan(4), idempotency.Count);
        chunk.Advance(4);
        foreach (var (key, record) in idempotency)
        {
            WriteIdempotency(chunk, key, record);
            if (chunk.WrittenCount >= ChunkBytes)
            {
                await output.WriteAsync(chunk.WrittenMemory, token);
                chunk.ResetWrittenCount();
            }
        }

        await output.WriteAsync(chunk.WrittenMemory, token);
    }

    /// <summary>
    /// Reads a snapshot of version 3 or 4 into new objects; idempotency records go into a table with
    /// <paramref name="limits"/>. Truncation is an <see cref="EndOfStreamException"/>, anything else
    /// malformed a <see cref="CommandFormatException"/>.
    /// </summary>
    public static async ValueTask<SnapshotContents> ReadAsync(Stream input, IdempotencyLimits limits, CancellationToken token)
    {
        var header = new byte[HeaderBytes];
        await input.ReadExactlyAsync(header, token);
        var revision = BinaryPrimitives.ReadInt64LittleEndian(header.AsSpan(1));
        var count = BinaryPrimitives.ReadInt32LittleEndian(header.AsSpan(9));
        if (header[0] is not (Version or LegacySnapshotV3.Version))
        {
            throw new CommandFormatException($"Unsupported snapshot format version {header[0]}.");
        }

        if (count < 0)
        {
            throw new CommandFormatException($"Negative snapshot entry count {count}.");
        }

        return header[0] == LegacySnapshotV3.Version
            ? await LegacySnapshotV3.ReadAsync(input, revision, count, limits, token)
            : await ReadV4Async(input, revision, count, limits, token);
    }

    private static async ValueTask<SnapshotContents> ReadV4Async(Stream input, long revision, int count, IdempotencyLimits limits, CancellationToken token)
    {
        var reader = new SnapshotReader(input);
        var state = new SnapshotAccumulator();
        for (var i = 0; i < count; i++)
        {
            await reader.EnsureAsync(EntryFixedBytes, token);
            var length = EntryFixedBytes + VariableLength(reader.Buffered, EntryFixedBytes);
            await reader.EnsureAsync(length, token);
            ReadEntry(reader.Take(length), state);
        }

        await reader.EnsureAsync(4, token);
        var records = ReadCount(reader.Take(4));
        var idempotency = new IdempotencyTable(limits);
        for (var i = 0; i < records; i++)
        {
            await reader.EnsureAsync(IdempotencyFixedBytes, token);
            var length = IdempotencyFixedBytes + VariableLength(reader.Buffered, IdempotencyFixedBytes);
            await reader.EnsureAsync(length, token);
            ReadIdempotency(reader.Take(length), idempotency);
        }

        return state.Build(revision, idempotency);
    }

    private static void WriteEntry(ArrayBufferWriter<byte> chunk, string key, CacheEntry entry)
    {
        var keyBytes = WireFormat.StrictUtf8.GetByteCount(key);
        var value = entry.Value.Span;
        var length = EntryFixedBytes + keyBytes + value.Length;
        var span = chunk.GetSpan(length);
        BinaryPrimitives.WriteInt32LittleEndian(span, keyBytes);
        BinaryPrimitives.WriteInt32LittleEndian(span[4..], value.Length);
        BinaryPrimitives.WriteInt64LittleEndian(span[8..], entry.Version);
        BinaryPrimitives.WriteInt64LittleEndian(span[16..], entry.CreatedUnixMs);
        BinaryPrimitives.WriteInt64LittleEndian(span[24..], entry.UpdatedUnixMs);
        BinaryPrimitives.WriteInt64LittleEndian(span[32..], entry.ExpiresUnixMs);
        span[40] = entry.Pinned ? Pinned : (byte)0;
        WireFormat.StrictUtf8.GetBytes(key, span.Slice(EntryFixedBytes, keyBytes));
        value.CopyTo(span[(EntryFixedBytes + keyBytes)..]);
        chunk.Advance(length);
    }

    private static void ReadEntry(ReadOnlySpan<byte> record, SnapshotAccumulator state)
    {
        var keyBytes = BinaryPrimitives.ReadInt32LittleEndian(record);
        var key = WireFormat.DecodeKey(record.Slice(EntryFixedBytes, keyBytes));
        var flags = record[40];
        if ((flags & ~Pinned) != 0)
        {
            throw new CommandFormatException($"Unknown snapshot entry flags {flags}.");
        }

        state.Add(key, new CacheEntry(
            record[(EntryFixedBytes + keyBytes)..].ToArray(),
            BinaryPrimitives.ReadInt64LittleEndian(record[8..]),
            BinaryPrimitives.ReadInt64LittleEndian(record[16..]),
            BinaryPrimitives.ReadInt64LittleEndian(record[24..]),
            BinaryPrimitives.ReadInt64LittleEndian(record[32..]),
            (flags & Pinned) != 0));
    }

    private static void WriteIdempotency(ArrayBufferWriter<byte> chunk, string key, in IdempotencyTable.Record record)
    {
        var keyBytes = WireFormat.StrictUtf8.GetByteCount(key);
        var failed = record.Result.FailedKey;
        var failedBytes = failed is null ? 0 : WireFormat.StrictUtf8.GetByteCount(failed);
        var length = IdempotencyFixedBytes + keyBytes + failedBytes;
        var span = chunk.GetSpan(length);
        BinaryPrimitives.WriteInt32LittleEndian(span, keyBytes);
        BinaryPrimitives.WriteInt32LittleEndian(span[4..], failed is null ? -1 : failedBytes);
        BinaryPrimitives.WriteUInt64LittleEndian(span[8..], record.Fingerprint);
        span[16] = (byte)record.Result.Outcome;
        BinaryPrimitives.WriteInt64LittleEndian(span[17..], record.Result.Revision);
        BinaryPrimitives.WriteInt64LittleEndian(span[25..], record.RecordedUnixMs);
        WireFormat.StrictUtf8.GetBytes(key, span.Slice(IdempotencyFixedBytes, keyBytes));
        if (failed is not null)
        {
            WireFormat.StrictUtf8.GetBytes(failed, span.Slice(IdempotencyFixedBytes + keyBytes, failedBytes));
        }

        chunk.Advance(length);
    }

    private static void ReadIdempotency(ReadOnlySpan<byte> record, IdempotencyTable table)
    {
        var keyBytes = BinaryPrimitives.ReadInt32LittleEndian(record);
        var failedBytes = BinaryPrimitives.ReadInt32LittleEndian(record[4..]);
        var key = WireFormat.DecodeKey(record.Slice(IdempotencyFixedBytes, keyBytes));
        var failed = failedBytes < 0 ? null : WireFormat.DecodeKey(record.Slice(IdempotencyFixedBytes + keyBytes, failedBytes));
        table.Add(key, new IdempotencyTable.Record(
            BinaryPrimitives.ReadUInt64LittleEndian(record[8..]),
            new CommandResult(ReadOutcome(record[16]), BinaryPrimitives.ReadInt64LittleEndian(record[17..]), FailedKey: failed),
            BinaryPrimitives.ReadInt64LittleEndian(record[25..])));
    }

    /// <summary>The two length fields at the start of a record (the second may be -1: absent), validated; their sum.</summary>
    private static int VariableLength(ReadOnlySpan<byte> record, int fixedBytes)
    {
        var first = BinaryPrimitives.ReadInt32LittleEndian(record);
        var second = BinaryPrimitives.ReadInt32LittleEndian(record[4..]);
        var optional = fixedBytes == IdempotencyFixedBytes ? -1 : 0;
        if (first is < 0 or > WireFormat.MaxFieldLength || second < optional || second > WireFormat.MaxFieldLength)
        {
            throw new CommandFormatException($"Snapshot record lengths {first}/{second} are out of range.");
        }

        return first + Math.Max(second, 0);
    }

    private static int ReadCount(ReadOnlySpan<byte> bytes)
    {
        var count = BinaryPrimitives.ReadInt32LittleEndian(bytes);
        return count >= 0 ? count : throw new CommandFormatException($"Negative snapshot record count {count}.");
    }

    internal static CommandOutcome ReadOutcome(byte outcome) =>
        Enum.IsDefined((CommandOutcome)outcome) ? (CommandOutcome)outcome : throw new CommandFormatException($"Unknown command outcome {outcome}.");
}

/// <summary>
/// Collects restored entries into a new builder; <see cref="Build"/> makes the immutable view. Snapshots
/// are written in key order (since the state became an <see cref="EntryMap"/>), so a restore appends and
/// fills every leaf; older snapshots, in hash order, are inserted like writes.
/// </summary>
internal sealed class SnapshotAccumulator
{
    private readonly EntryMap.Builder _entries = EntryMap.CreateBuilder();
    private readonly List<(long, string)> _expiries = [];
    private long _size;

    public void Add(string key, CacheEntry entry)
    {
        if (!_entries.TryAdd(key, entry))
        {
            throw new CommandFormatException($"Snapshot holds key '{key}' twice.");
        }

        if (entry.ExpiresUnixMs != 0)
        {
            _expiries.Add((entry.ExpiresUnixMs, key));
        }

        _size += CacheEntry.SizeOf(key, entry.Value);
    }

    public SnapshotContents Build(long revision, IdempotencyTable idempotency) =>
        new(new StateView(_entries.ToImmutable(), revision), idempotency, _size, _expiries);
}
