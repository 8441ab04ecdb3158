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
/// command := tag [idempotency-key] [condition] [options] body
///            (tag bits: 0x80 idempotency key follows · 0x40 condition · 0x20 set options)
/// condition := expected:zigzag-varint64 (set/delete) | count:varint (key expected)* (batch)
/// options := ttlMs:varint64 pinned:u8
/// body    := (1 set) key value | (2 delete) key | (3 batch) setCount (key value)* deleteCount key*
///          | (4 remove) count (key version:varint64)* reason:u8
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
    private const byte RemoveTag = 4;
    private const byte HasIdempotencyKey = 0x80;
    private const byte HasCondition = 0x40;
    private const byte HasOptions = 0x20;
    private const byte TagMask = 0x1F;

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
                RemoveCommand => RemoveTag,
                _ => throw new ArgumentException($"Unknown command type {command.GetType().Name}.", nameof(batch)),
            };
            var condition = command switch
            {
                SetCommand { ExpectedVersion: not null } => true,
                DeleteCommand { ExpectedVersion: not null } => true,
                BatchCommand { Conditions.Count: > 0 } => true,
                _ => false,
            };
            var options = command is SetCommand { TtlMs: not 0 } or SetCommand { Pinned: true };
            var flags = (byte)(tag
                | (command.IdempotencyKey is null ? 0 : HasIdempotencyKey)
                | (condition ? HasCondition : 0)
                | (options ? HasOptions : 0));
            WriteByte(writer, flags);
            if (command.IdempotencyKey is { } idempotencyKey)
            {
                WriteKey(writer, idempotencyKey);
            }

            if (condition)
            {
                switch (command)
                {
                    case SetCommand { ExpectedVersion: { } expected }:
                        WriteVarint64(writer, ZigZag(expected));
                        break;
                    case DeleteCommand { ExpectedVersion: { } expected }:
                        WriteVarint64(writer, ZigZag(expected));
                        break;
                    case BatchCommand b:
                        WriteVarint(writer, (uint)b.Conditions.Count);
                        foreach (var (key, expected) in b.Conditions)
                        {
                            WriteKey(writer, key);
                            WriteVarint64(writer, ZigZag(expected));
                        }

                        break;
                }
            }

            if (options && command is SetCommand withOptions)
            {
                WriteVarint64(writer, (ulong)withOptions.TtlMs);
                WriteByte(writer, withOptions.Pinned ? (byte)1 : (byte)0);
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
                case RemoveCommand remove:
                    WriteVarint(writer, (uint)remove.Keys.Count);
                    foreach (var (key, version) in remove.Keys)
                    {
                        WriteKey(writer, key);
                        WriteVarint64(writer, (ulong)version);
                    }

                    WriteByte(writer, (byte)remove.Reason);
                    break;
            }
        }
    }

    /// <summary>
    /// The bytes of <c>Encode(new CommandBatch(0, [new SetCommand(key, value)]))</c>, written without
    /// allocating: snapshots store one such record per key.
    /// </summary>
    public static void EncodeSingleSet(string key, ReadOnlySpan<byte> value, IBufferWriter<byte> writer)
    {
        var header = writer.GetSpan(11);
        header[0] = FormatVersion;
        BinaryPrimitives.WriteInt64LittleEndian(header[1..], 0);
        header[9] = 1; // one command
        header[10] = SetTag;
        writer.Advance(11);
        WriteKey(writer, key);
        WriteBytes(writer, value);
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
            long? expected = null;
            List<KeyValuePair<string, long>>? conditions = null;
            if ((tag & HasCondition) != 0)
            {
                if ((tag & TagMask) == BatchTag)
                {
                    var count2 = reader.ReadCount();
                    conditions = new List<KeyValuePair<string, long>>(Math.Min(count2, 1024));
                    for (var c = 0; c < count2; c++)
                    {
                        var key = reader.ReadKey();
                        conditions.Add(new(key, UnZigZag(reader.ReadVarint64())));
                    }
                }
                else
                {
                    expected = UnZigZag(reader.ReadVarint64());
                }
            }

            long ttl = 0;
            var pinned = false;
            if ((tag & HasOptions) != 0)
            {
                ttl = (long)reader.ReadVarint64();
                pinned = reader.ReadByte() != 0;
            }

            CacheCommand command = (tag & TagMask) switch
            {
                SetTag => new SetCommand(reader.ReadKey(), reader.ReadBytes()) { ExpectedVersion = expected, TtlMs = ttl, Pinned = pinned },
                DeleteTag => new DeleteCommand(reader.ReadKey()) { ExpectedVersion = expected },
                BatchTag => ReadBatch(ref reader) with { Conditions = conditions ?? [] },
                RemoveTag => ReadRemove(ref reader),
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

    private static RemoveCommand ReadRemove(ref Reader reader)
    {
        var count = reader.ReadCount();
        var keys = new List<KeyValuePair<string, long>>(Math.Min(count, 1024));
        for (var i = 0; i < count; i++)
        {
            var key = reader.ReadKey();
            keys.Add(new(key, (long)reader.ReadVarint64()));
        }

        var reason = reader.ReadByte();
        if (reason is not ((byte)RemovalReason.Expired or (byte)RemovalReason.Evicted))
        {
            throw new CommandFormatException($"Unknown removal reason {reason}.");
        }

        return new RemoveCommand(keys, (RemovalReason)reason);
    }

    private static ulong ZigZag(long value) => (ulong)((value << 1) ^ (value >> 63));

    private static long UnZigZag(ulong value) => (long)(value >> 1) ^ -(long)(value & 1);

    private static void WriteVarint64(IBufferWriter<byte> writer, ulong value)
    {
        var span = writer.GetSpan(10);
        var i = 0;
        while (value >= 0x80)
        {
            span[i++] = (byte)(value | 0x80);
            value >>= 7;
        }

        span[i++] = (byte)value;
        writer.Advance(i);
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

    private static void WriteVarint(IBufferWriter<byte> writer, uint value) => WriteVarint64(writer, value);

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

        public ulong ReadVarint64()
        {
            ulong result = 0;
            for (var shift = 0; shift < 70; shift += 7)
            {
                var b = ReadByte();
                result |= (ulong)(b & 0x7F) << shift;
                if ((b & 0x80) == 0)
                {
                    return result;
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
