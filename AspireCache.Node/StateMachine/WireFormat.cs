using System.Buffers;
using System.Buffers.Binary;
using System.Text;

namespace AspireCache.Node.StateMachine;

/// <summary>
/// The primitives of the log's binary format: LEB128 varints, zig-zag, length-prefixed UTF-8 keys and
/// byte strings. Used by <see cref="CommandBodyCodec"/> and <see cref="CommandCodec"/>; knows no commands.
/// </summary>
internal static class WireFormat
{
    /// <summary>Upper bound on any single length field; real limits are enforced by the API layer.</summary>
    public const int MaxFieldLength = 64 * 1024 * 1024;

    /// <summary>UTF-8 that refuses invalid input instead of substituting: replicas must never disagree on a key.</summary>
    public static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    public static ulong ZigZag(long value) => (ulong)((value << 1) ^ (value >> 63));

    public static long UnZigZag(ulong value) => (long)(value >> 1) ^ -(long)(value & 1);

    public static void WriteVarint64(IBufferWriter<byte> writer, ulong value)
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

    public static void WriteVarint(IBufferWriter<byte> writer, uint value) => WriteVarint64(writer, value);

    public static void WriteByte(IBufferWriter<byte> writer, byte value)
    {
        writer.GetSpan(1)[0] = value;
        writer.Advance(1);
    }

    public static void WriteKey(IBufferWriter<byte> writer, string key)
    {
        var length = StrictUtf8.GetByteCount(key);
        WriteVarint(writer, (uint)length);
        var written = StrictUtf8.GetBytes(key, writer.GetSpan(length));
        writer.Advance(written);
    }

    public static void WriteBytes(IBufferWriter<byte> writer, ReadOnlySpan<byte> value)
    {
        WriteVarint(writer, (uint)value.Length);
        writer.Write(value);
    }

    /// <summary>Decodes a strict UTF-8 key; invalid bytes are a <see cref="CommandFormatException"/>.</summary>
    public static string DecodeKey(ReadOnlySpan<byte> bytes)
    {
        try
        {
            return StrictUtf8.GetString(bytes);
        }
        catch (DecoderFallbackException)
        {
            throw new CommandFormatException("Key is not valid UTF-8.");
        }
    }
}

/// <summary>Reads the primitives of <see cref="WireFormat"/> from a span; throws only <see cref="CommandFormatException"/>.</summary>
internal ref struct PayloadReader(ReadOnlySpan<byte> buffer)
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
        var result = ReadVarint64();
        return result <= (ulong)WireFormat.MaxFieldLength
            ? (int)result
            : throw new CommandFormatException($"Length {result} exceeds the format's limit.");
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

    public string ReadKey() => WireFormat.DecodeKey(ReadSpan());

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
