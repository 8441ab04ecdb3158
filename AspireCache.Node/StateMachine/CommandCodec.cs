using System.Buffers;
using System.Buffers.Binary;
using System.Numerics;

namespace AspireCache.Node.StateMachine;

/// <summary>
/// The log entry envelope: a <see cref="CommandBatch"/> as the Raft log stores it.
/// <code>
/// entry    := v2 | v1
/// v2       := 0x02 timestamp:i64le count:varint command* crc32c:u32le   (written by default)
/// v1       := 0x01 timestamp:i64le count:varint command*                (read only: older WALs)
/// crc32c   := CRC-32C (Castagnoli, the iSCSI/ext4 checksum) of every byte before it, the version byte included
/// </code>
/// Each command is encoded by <see cref="CommandBodyCodec"/> (see there for its grammar); a v2 entry is
/// its v1 bytes with the version byte set to 2 and the checksum appended. The entry is length-delimited
/// by the log, so the checksum is its last four bytes. The decoder checks it before it parses anything:
/// a corrupted entry (a flipped bit on disk or on the wire, a torn or shifted write) is refused with a
/// <see cref="CommandFormatException"/> instead of being applied as some other command. CRC-32C
/// detects every single-bit error and every burst of up to 32 bits, whatever the entry's length; any
/// other corruption gets through with a chance of about one in 2^32.
/// Decoding never throws anything but <see cref="CommandFormatException"/>.
/// <para>
/// The format is persisted in WALs: changing it needs a new <see cref="FormatVersion"/> and a decoder
/// that still reads the old ones (stored samples: <c>AspireCache.Tests/Samples/wal-entries-v1.bin</c>
/// and <c>wal-entries-v2.bin</c>). Optional fields are added as flag bits of a command's tag instead
/// (the writer: <c>0x10</c>): entries without them keep their exact bytes, so old entries decode as
/// before; only a node that predates a flag cannot read entries that set it.
/// </para>
/// <para>
/// Rolling upgrades: a node from before version 2 cannot read v2 entries. Its state machine skips an
/// entry it cannot decode, so in a cluster that mixes versions the old nodes would silently miss every
/// write the new ones apply. Upgrade every node before the new version writes (stop writes during the
/// upgrade, or upgrade all nodes together), or have the leader keep writing version 1
/// (<see cref="Encode(CommandBatch, IBufferWriter{byte}, byte)"/> with <see cref="FormatVersion1"/>)
/// until every node runs this version. Reading v1 stays supported for good: WALs hold v1 entries.
/// </para>
/// <para>
/// <see cref="EncodeKeyless"/> (what <see cref="IdempotencyTable.Fingerprint"/> hashes) always writes
/// the version-1 layout: fingerprints are persisted in snapshots and must never change.
/// </para>
/// </summary>
public static class CommandCodec
{
    /// <summary>The version <see cref="Encode(CommandBatch)"/> writes: v1 plus a CRC-32C trailer.</summary>
    public const byte FormatVersion = 2;

    /// <summary>The version before the checksum: still read; written only by <see cref="EncodeKeyless"/> and on request.</summary>
    public const byte FormatVersion1 = 1;

    /// <summary>Bytes of the v2 checksum trailer.</summary>
    public const int ChecksumBytes = 4;

    private const int HeaderBytes = 9;

    /// <summary>The smallest v2 entry: header, a one-byte count and the checksum.</summary>
    private const int MinimumVersion2Bytes = HeaderBytes + 1 + ChecksumBytes;

    public static byte[] Encode(CommandBatch batch) => Encode(batch, FormatVersion);

    /// <summary>Encodes in <paramref name="formatVersion"/> (1 or 2): see the rolling-upgrade note on <see cref="CommandCodec"/>.</summary>
    public static byte[] Encode(CommandBatch batch, byte formatVersion)
    {
        var writer = new ArrayBufferWriter<byte>(EstimateSize(batch));
        Encode(batch, writer, formatVersion);
        return writer.WrittenSpan.ToArray();
    }

    public static void Encode(CommandBatch batch, IBufferWriter<byte> writer) => Encode(batch, writer, FormatVersion);

    /// <summary>
    /// Writes <paramref name="batch"/> to <paramref name="writer"/> in one pass (the checksum is folded in
    /// as the bytes are written, then appended: nothing written is read back or patched).
    /// </summary>
    public static void Encode(CommandBatch batch, IBufferWriter<byte> writer, byte formatVersion)
    {
        ArgumentNullException.ThrowIfNull(batch);
        ArgumentNullException.ThrowIfNull(writer);
        switch (formatVersion)
        {
            case FormatVersion1:
                WriteBody(batch, writer, FormatVersion1);
                break;
            case FormatVersion:
                var checksummed = new ChecksummingWriter(writer);
                WriteBody(batch, checksummed, FormatVersion);
                var trailer = writer.GetSpan(ChecksumBytes);
                BinaryPrimitives.WriteUInt32LittleEndian(trailer, checksummed.Checksum);
                writer.Advance(ChecksumBytes);
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(formatVersion), formatVersion, $"Only versions {FormatVersion1} and {FormatVersion} can be written.");
        }
    }

    /// <summary>
    /// The bytes of <c>Encode(new CommandBatch(0, [command with { IdempotencyKey = null }]), FormatVersion1)</c>,
    /// written without copying the command (what <see cref="IdempotencyTable.Fingerprint"/> hashes).
    /// Version 1 for good: fingerprints are persisted in snapshots, so these bytes must never change.
    /// </summary>
    internal static void EncodeKeyless(CacheCommand command, IBufferWriter<byte> writer)
    {
        WriteHeader(writer, FormatVersion1, 0, 1);
        CommandBodyCodec.Write(writer, command, includeIdempotencyKey: false);
    }

    public static CommandBatch Decode(ReadOnlySpan<byte> payload)
    {
        if (payload.IsEmpty)
        {
            throw new CommandFormatException("Payload is truncated.");
        }

        switch (payload[0])
        {
            case FormatVersion1:
                return DecodeBody(payload);
            case FormatVersion:
                if (payload.Length < MinimumVersion2Bytes)
                {
                    throw new CommandFormatException("Payload is truncated.") { Unreadable = true };
                }

                var body = payload[..^ChecksumBytes];
                var stored = BinaryPrimitives.ReadUInt32LittleEndian(payload[^ChecksumBytes..]);
                var computed = Crc32C.Hash(body);
                return stored == computed
                    ? DecodeBody(body)
                    : throw new CommandFormatException($"Checksum mismatch (stored {stored:x8}, computed {computed:x8}): the entry is corrupt.") { Unreadable = true };
            default:
                throw new CommandFormatException($"Unsupported command format version {payload[0]}.") { Unreadable = true };
        }
    }

    /// <summary>Decodes <c>version timestamp count command*</c> (the version byte is checked by the caller).</summary>
    private static CommandBatch DecodeBody(ReadOnlySpan<byte> body)
    {
        var reader = new PayloadReader(body);
        reader.ReadByte(); // the version
        var timestamp = reader.ReadInt64();
        var count = reader.ReadCount();
        var commands = new List<CacheCommand>(Math.Min(count, 1024));
        for (var i = 0; i < count; i++)
        {
            commands.Add(CommandBodyCodec.Read(ref reader));
        }

        if (!reader.End)
        {
            throw new CommandFormatException("Trailing bytes after the last command.");
        }

        return new CommandBatch(timestamp, commands);
    }

    private static void WriteBody(CommandBatch batch, IBufferWriter<byte> writer, byte formatVersion)
    {
        WriteHeader(writer, formatVersion, batch.TimestampUnixMs, batch.Commands.Count);
        foreach (var command in batch.Commands)
        {
            CommandBodyCodec.Write(writer, command);
        }
    }

    private static void WriteHeader(IBufferWriter<byte> writer, byte formatVersion, long timestampUnixMs, int count)
    {
        var header = writer.GetSpan(HeaderBytes);
        header[0] = formatVersion;
        BinaryPrimitives.WriteInt64LittleEndian(header[1..], timestampUnixMs);
        writer.Advance(HeaderBytes);
        WireFormat.WriteVarint(writer, (uint)count);
    }

    private static int EstimateSize(CommandBatch batch)
    {
        var size = 16 + ChecksumBytes;
        foreach (var command in batch.Commands)
        {
            size += CommandBodyCodec.EstimateSize(command);
        }

        return size;
    }

    /// <summary>
    /// Passes writes through to <paramref name="inner"/> and folds each committed byte into a CRC-32C.
    /// (<see cref="IBufferWriter{T}.Advance"/> commits the start of the buffer handed out last.)
    /// </summary>
    private sealed class ChecksummingWriter(IBufferWriter<byte> inner) : IBufferWriter<byte>
    {
        private Memory<byte> _last;
        private uint _state = Crc32C.Initial;

        public uint Checksum => Crc32C.Finish(_state);

        public void Advance(int count)
        {
            _state = Crc32C.Append(_state, _last.Span[..count]);
            _last = default;
            inner.Advance(count);
        }

        public Memory<byte> GetMemory(int sizeHint = 0) => _last = inner.GetMemory(sizeHint);

        public Span<byte> GetSpan(int sizeHint = 0) => GetMemory(sizeHint).Span;
    }
}

/// <summary>
/// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78, initial and final XOR 0xFFFFFFFF: the
/// checksum of iSCSI, ext4 and SCTP; check value of "123456789" is 0xE3069283), computed with
/// <see cref="BitOperations.Crc32C(uint, ulong)"/>: the CPU's CRC32 instruction where there is one
/// (SSE 4.2, Arm CRC32), a table otherwise. No package needed.
/// </summary>
internal static class Crc32C
{
    public const uint Initial = 0xFFFFFFFF;

    public static uint Hash(ReadOnlySpan<byte> data) => Finish(Append(Initial, data));

    public static uint Append(uint state, ReadOnlySpan<byte> data)
    {
        while (data.Length >= sizeof(ulong))
        {
            state = BitOperations.Crc32C(state, BinaryPrimitives.ReadUInt64LittleEndian(data));
            data = data[sizeof(ulong)..];
        }

        foreach (var b in data)
        {
            state = BitOperations.Crc32C(state, b);
        }

        return state;
    }

    public static uint Finish(uint state) => ~state;
}
