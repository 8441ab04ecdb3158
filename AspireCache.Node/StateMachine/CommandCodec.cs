using System.Buffers;
using System.Buffers.Binary;
using System.Text;

namespace AspireCache.Node.StateMachine;

/// <summary>The payload could not be decoded: wrong format version, truncated, or corrupt.</summary>
public sealed class CommandFormatException(string message) : FormatException(message);

/// <summary>
/// Compact binary encoding of a log entry's <see cref="CommandBatch"/>.
/// <code>
/// entry   := formatVersion:u8 timestamp:i64le count:varint command*
/// command := tag [idempotency-key] body          (tag bit 0x80: an idempotency key follows)
/// body    := (tag 1) key value | (tag 2) key | (tag 3) setCount:varint (key value)* deleteCount:varint key*
/// key     := len:varint utf8-bytes          value := len:varint bytes
/// </code>
/// Decoding never throws anything but <see cref="CommandFormatException"/>.
/// </summary>
public static class CommandCodec
{
    public const byte FormatVersion = 1;

    private const byte SetTag = 1;
    private const byte DeleteTag = 2;
    private const byte BatchTag = 3;
    private const byte HasIdempotencyKey = 0x80;

    /// <summary>Upper bound on any single length field; real limits are enforced by the API layer.</summary>
    private const int MaxFieldLength = 64 * 1024 * 1024;

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    public static byte[] Encode(CommandBatch batch)
    {
        var writer = new ArrayBufferWriter<byte>(EstimateSize(batch));
        Encode(batch, writer);
        return writer.WrittenSpan.ToArray();
    }

    public static void Encode(CommandBatch batch, IBufferWriter<byte> writer)
    {
        var header = writer.GetSpan(9);
        header[0] = FormatVersion;
        BinaryPrimitives.WriteInt64LittleEndian(header[1..], batch.TimestampUnixMs);
        writer.Advance(9);
        WriteVarint(writer, (uint)batch.Commands.Count);
        foreach (var command in batch.Commands)
        {
            var tag = command switch
            {
                SetCommand => SetTag,
                DeleteCommand => DeleteTag,
                BatchCommand => BatchTag,
                _ => throw new ArgumentException($"Unknown command type {command.GetType().Name}.", nameof(batch)),
            };
            if (command.IdempotencyKey is { } idempotencyKey)
            {
                WriteByte(writer, (byte)(tag | HasIdempotencyKey));
                WriteKey(writer, idempotencyKey);
            }
            else
            {
                WriteByte(writer, tag);
            }

            switch (command)
            {
                case SetCommand set:
                    WriteKey(writer, set.Key);
                    WriteBytes(writer, set.Value.Span);
                    break;
                case DeleteCommand delete:
                    WriteKey(writer, delete.Key);
                    break;
                case BatchCommand b:
                    WriteVarint(writer, (uint)b.Sets.Count);
                    foreach (var (key, value) in b.Sets)
                    {
                        WriteKey(writer, key);
                        WriteBytes(writer, value.Span);
                    }

                    WriteVarint(writer, (uint)b.Deletes.Count);
                    foreach (var key in b.Deletes)
                    {
                        WriteKey(writer, key);
                    }

                    break;
            }
        }
    }

    public static CommandBatch Decode(ReadOnlySpan<byte> payload)
    {
        var reader = new Reader(payload);
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
            var tag = reader.ReadByte();
            var idempotencyKey = (tag & HasIdempotencyKey) != 0 ? reader.ReadKey() : null;
            CacheCommand command = (tag & ~HasIdempotencyKey) switch
            {
                SetTag => new SetCommand(reader.ReadKey(), reader.ReadBytes()),
                DeleteTag => new DeleteCommand(reader.ReadKey()),
                BatchTag => ReadBatch(ref reader),
                _ => throw new CommandFormatException($"Unknown command tag {tag}."),
            };
            commands.Add(idempotencyKey is null ? command : command with { IdempotencyKey = idempotencyKey });
        }

        if (!reader.End)
        {
            throw new CommandFormatException("Trailing bytes after the last command.");
        }

        return new CommandBatch(timestamp, commands);
    }

    private static BatchCommand ReadBatch(ref Reader reader)
    {
        var setCount = reader.ReadCount();
        var sets = new List<KeyValuePair<string, ReadOnlyMemory<byte>>>(Math.Min(setCount, 1024));
        for (var i = 0; i < setCount; i++)
        {
            var key = reader.ReadKey();
            sets.Add(new(key, reader.ReadBytes()));
        }

        var deleteCount = reader.ReadCount();
        var deletes = new List<string>(Math.Min(deleteCount, 1024));
        for (var i = 0; i < deleteCount; i++)
        {
            deletes.Add(reader.ReadKey());
        }

        return new BatchCommand(sets, deletes);
    }

    private static int EstimateSize(CommandBatch batch)
    {
        var size = 16;
        foreach (var command in batch.Commands)
        {
            size += command switch
            {
                SetCommand s => 12 + (s.Key.Length * 3) + s.Value.Length,
                DeleteCommand d => 6 + (d.Key.Length * 3),
                BatchCommand b => 12 + b.Sets.Sum(kv => 10 + (kv.Key.Length * 3) + kv.Value.Length) + b.Deletes.Sum(k => 5 + (k.Length * 3)),
                _ => 0,
            };
        }

        return size;
    }

    private static void WriteByte(IBufferWriter<byte> writer, byte value)
    {
        writer.GetSpan(1)[0] = value;
        writer.Advance(1);
    }

    private static void WriteVarint(IBufferWriter<byte> writer, uint value)
    {
        var span = writer.GetSpan(5);
        var i = 0;
        while (value >= 0x80)
        {
            span[i++] = (byte)(value | 0x80);
            value >>= 7;
        }

        span[i++] = (byte)value;
        writer.Advance(i);
    }

    private static void WriteKey(IBufferWriter<byte> writer, string key)
    {
        var length = StrictUtf8.GetByteCount(key);
        WriteVarint(writer, (uint)length);
        var written = StrictUtf8.GetBytes(key, writer.GetSpan(length));
        writer.Advance(written);
    }

    private static void WriteBytes(IBufferWriter<byte> writer, ReadOnlySpan<byte> value)
    {
        WriteVarint(writer, (uint)value.Length);
        writer.Write(value);
    }

    private ref struct Reader(ReadOnlySpan<byte> buffer)
    {
        private readonly ReadOnlySpan<byte> _buffer = buffer;
        private int _position;

        public readonly bool End => _position == _buffer.Length;

        public byte ReadByte()
        {
            if (_position >= _buffer.Length)
            {
                throw Truncated();
            }

            return _buffer[_position++];
        }

        public long ReadInt64()
        {
            if (_buffer.Length - _position < 8)
            {
                throw Truncated();
            }

            var value = BinaryPrimitives.ReadInt64LittleEndian(_buffer[_position..]);
            _position += 8;
            return value;
        }

        public int ReadCount()
        {
            uint result = 0;
            for (var shift = 0; shift < 35; shift += 7)
            {
                var b = ReadByte();
                result |= (uint)(b & 0x7F) << shift;
                if ((b & 0x80) == 0)
                {
                    if (result > MaxFieldLength)
                    {
                        throw new CommandFormatException($"Length {result} exceeds the format's limit.");
                    }

                    return (int)result;
                }
            }

            throw new CommandFormatException("Malformed varint.");
        }

        public string ReadKey()
        {
            var bytes = ReadSpan();
            try
            {
                return StrictUtf8.GetString(bytes);
            }
            catch (DecoderFallbackException)
            {
                throw new CommandFormatException("Key is not valid UTF-8.");
            }
        }

        public ReadOnlyMemory<byte> ReadBytes() => ReadSpan().ToArray();

        private ReadOnlySpan<byte> ReadSpan()
        {
            var length = ReadCount();
            if (_buffer.Length - _position < length)
            {
                throw Truncated();
            }

            var span = _buffer.Slice(_position, length);
            _position += length;
            return span;
        }

        private static CommandFormatException Truncated() => new("Payload is truncated.");
    }
}
