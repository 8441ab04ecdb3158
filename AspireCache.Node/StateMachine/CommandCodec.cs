using System.Buffers;
using System.Buffers.Binary;

namespace AspireCache.Node.StateMachine;

/// <summary>
/// The log entry envelope: a <see cref="CommandBatch"/> as the Raft log stores it.
/// <code>
/// entry   := formatVersion:u8 timestamp:i64le count:varint command*
/// </code>
/// Each command is encoded by <see cref="CommandBodyCodec"/> (see there for its grammar).
/// Decoding never throws anything but <see cref="CommandFormatException"/>. The format is
/// persisted in WALs: changing it needs a new <see cref="FormatVersion"/> and a decoder that still
/// reads the old one (stored samples: <c>AspireCache.Tests/Samples/wal-entries-v1.bin</c>). Optional
/// fields are added as flag bits of a command's tag instead (the writer: <c>0x10</c>): entries without
/// them keep their exact bytes, so old entries decode as before; only a node that predates a flag
/// cannot read entries that set it.
/// </summary>
public static class CommandCodec
{
    public const byte FormatVersion = 1;

    private const int HeaderBytes = 9;

    public static byte[] Encode(CommandBatch batch)
    {
        var writer = new ArrayBufferWriter<byte>(EstimateSize(batch));
        Encode(batch, writer);
        return writer.WrittenSpan.ToArray();
    }

    public static void Encode(CommandBatch batch, IBufferWriter<byte> writer)
    {
        WriteHeader(writer, batch.TimestampUnixMs, batch.Commands.Count);
        foreach (var command in batch.Commands)
        {
            CommandBodyCodec.Write(writer, command);
        }
    }

    /// <summary>
    /// The bytes of <c>Encode(new CommandBatch(0, [command with { IdempotencyKey = null }]))</c>, written
    /// without copying the command (what <see cref="IdempotencyTable.Fingerprint"/> hashes).
    /// </summary>
    internal static void EncodeKeyless(CacheCommand command, IBufferWriter<byte> writer)
    {
        WriteHeader(writer, 0, 1);
        CommandBodyCodec.Write(writer, command, includeIdempotencyKey: false);
    }

    public static CommandBatch Decode(ReadOnlySpan<byte> payload)
    {
        var reader = new PayloadReader(payload);
        var version = reader.ReadByte();
        if (version != FormatVersion)
        {
            throw new CommandFormatException($"Unsupported command format version {version}.");
        }

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

    private static void WriteHeader(IBufferWriter<byte> writer, long timestampUnixMs, int count)
    {
        var header = writer.GetSpan(HeaderBytes);
        header[0] = FormatVersion;
        BinaryPrimitives.WriteInt64LittleEndian(header[1..], timestampUnixMs);
        writer.Advance(HeaderBytes);
        WireFormat.WriteVarint(writer, (uint)count);
    }

    private static int EstimateSize(CommandBatch batch)
    {
        var size = 16;
        foreach (var command in batch.Commands)
        {
            size += CommandBodyCodec.EstimateSize(command);
        }

        return size;
    }
}
