using System.Buffers;
using System.Buffers.Binary;
using System.Text;

namespace AspireCache.Contracts;

/// <summary>
/// The wire format of <c>POST /cluster/read-batch</c>: several linearizable single-key reads under one
/// read index, the way the router coalesces the GETs that arrive while its previous request to a
/// node is in flight, and AspireCache.Client for the reads of one process (to a node in direct mode, or
/// through the router, which passes the batch on). Internal to the
/// router, the nodes and AspireCache.Client, which ship together (binary, little-endian, no versioning
/// beyond the media types): other clients use <c>GET /cache/{key}</c>.
/// <para>Request (<see cref="RequestMediaType"/>): per key, a 2-byte length and the key's UTF-8 bytes.</para>
/// <para>Answer (<see cref="ResponseMediaType"/>, 200): the node's clock (8 bytes, Unix ms), then per
/// key in request order one status byte — <see cref="Found"/> followed by version, last-modified and
/// expiry (8 bytes each, Unix ms, 0 = none), the value's length (4 bytes) and its bytes;
/// <see cref="NotFound"/>; or <see cref="Skipped"/>: not answered here (an invalid key, a key outside
/// the credential's prefixes, past the answer's byte budget), to be sent as a GET of its own, which
/// gets the node's exact error. The read's headers (node, role, consistency, read index, applied
/// index, revision) are the answer's HTTP headers, shared by every key.</para>
/// </summary>
public static class ReadBatchWire
{
    public const string Path = "/cluster/read-batch";
    public const string RequestMediaType = "application/vnd.aspirecache.read-batch";
    public const string ResponseMediaType = "application/vnd.aspirecache.read-batch-result";

    public const byte Found = 0;
    public const byte NotFound = 1;
    public const byte Skipped = 2;

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>Bytes of a found item besides its value.</summary>
    public const int FoundHeaderBytes = 1 + 8 + 8 + 8 + 4;

    /// <summary>Encodes <paramref name="keys"/> as a request body.</summary>
    public static byte[] EncodeRequest(IReadOnlyList<string> keys)
    {
        var length = 0;
        foreach (var key in keys)
        {
            length += 2 + Encoding.UTF8.GetByteCount(key);
        }

        var body = new byte[length];
        var span = body.AsSpan();
        foreach (var key in keys)
        {
            var written = Encoding.UTF8.GetBytes(key, span[2..]);
            BinaryPrimitives.WriteUInt16LittleEndian(span, checked((ushort)written));
            span = span[(2 + written)..];
        }

        return body;
    }

    /// <summary>Decodes a request body; false when it is malformed (a length past the end, invalid UTF-8) or names more than <paramref name="maxKeys"/> keys.</summary>
    public static bool TryDecodeRequest(ReadOnlySequence<byte> body, int maxKeys, List<string> keys)
    {
        var reader = new SequenceReader<byte>(body);
        while (!reader.End)
        {
            if (keys.Count == maxKeys || !reader.TryReadLittleEndian(out short raw))
            {
                return false;
            }

            var length = (ushort)raw;
            if (reader.Remaining < length)
            {
                return false;
            }

            var slice = reader.UnreadSequence.Slice(0, length);
            try
            {
                keys.Add(StrictUtf8.GetString(slice));
            }
            catch (DecoderFallbackException)
            {
                return false;
            }

            reader.Advance(length);
        }

        return keys.Count > 0;
    }

    public static void WriteHeader(IBufferWriter<byte> writer, long nowUnixMs)
    {
        BinaryPrimitives.WriteInt64LittleEndian(writer.GetSpan(8), nowUnixMs);
        writer.Advance(8);
    }

    public static void WriteFound(IBufferWriter<byte> writer, long version, long updatedUnixMs, long expiresUnixMs, ReadOnlySpan<byte> value)
    {
        var span = writer.GetSpan(FoundHeaderBytes);
        span[0] = Found;
        BinaryPrimitives.WriteInt64LittleEndian(span[1..], version);
        BinaryPrimitives.WriteInt64LittleEndian(span[9..], updatedUnixMs);
        BinaryPrimitives.WriteInt64LittleEndian(span[17..], expiresUnixMs);
        BinaryPrimitives.WriteInt32LittleEndian(span[25..], value.Length);
        writer.Advance(FoundHeaderBytes);
        writer.Write(value);
    }

    public static void WriteStatus(IBufferWriter<byte> writer, byte status)
    {
        writer.GetSpan(1)[0] = status;
        writer.Advance(1);
    }

    /// <summary>One item of an answer; <see cref="Value"/> is a slice of the answer's buffer.</summary>
    public readonly record struct Item(byte Status, long Version, long UpdatedUnixMs, long ExpiresUnixMs, ReadOnlyMemory<byte> Value);

    /// <summary>Decodes an answer of exactly <paramref name="count"/> items; false when it is malformed.</summary>
    public static bool TryDecodeResponse(ReadOnlyMemory<byte> body, int count, out long nowUnixMs, Item[] items)
    {
        nowUnixMs = 0;
        var span = body.Span;
        if (span.Length < 8)
        {
            return false;
        }

        nowUnixMs = BinaryPrimitives.ReadInt64LittleEndian(span);
        var offset = 8;
        for (var i = 0; i < count; i++)
        {
            if (offset >= span.Length)
            {
                return false;
            }

            var status = span[offset];
            if (status != Found)
            {
                if (status is not (NotFound or Skipped))
                {
                    return false;
                }

                items[i] = new Item(status, 0, 0, 0, default);
                offset++;
                continue;
            }

            if (span.Length - offset < FoundHeaderBytes)
            {
                return false;
            }

            var version = BinaryPrimitives.ReadInt64LittleEndian(span[(offset + 1)..]);
            var updated = BinaryPrimitives.ReadInt64LittleEndian(span[(offset + 9)..]);
            var expires = BinaryPrimitives.ReadInt64LittleEndian(span[(offset + 17)..]);
            var length = BinaryPrimitives.ReadInt32LittleEndian(span[(offset + 25)..]);
            offset += FoundHeaderBytes;
            if (length < 0 || span.Length - offset < length)
            {
                return false;
            }

            items[i] = new Item(Found, version, updated, expires, body.Slice(offset, length));
            offset += length;
        }

        return offset == span.Length;
    }
}
