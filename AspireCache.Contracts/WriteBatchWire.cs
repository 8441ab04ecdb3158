using System.Buffers.Binary;
using System.Text;

namespace AspireCache.Contracts;

/// <summary>
/// The wire format of <c>POST /cluster/write-batch</c>: several independent single-key writes (PUT and
/// DELETE) that the router coalesced because they arrived while its previous request to the leader
/// was in flight. Not atomic: each write is its own request to the state machine, with its own
/// conditions, TTL and <c>Idempotency-Key</c>, and gets its own answer; the leader's group commit
/// puts the writes of a batch into one log entry. Internal to the router and the nodes (binary,
/// little-endian, no versioning beyond the media types): clients use <c>PUT/DELETE /cache/{key}</c>
/// and, for atomic multi-key writes, <c>POST /cache/batch</c>.
/// <para>Request (<see cref="RequestMediaType"/>), per write: the method byte (<see cref="Put"/>,
/// <see cref="Delete"/>); the key, the raw query string (<c>?ttl=…</c> or empty) and the
/// <c>If-Match</c>, <c>If-None-Match</c>, <c>Idempotency-Key</c> and <c>Accept</c> headers as
/// strings (2-byte length and UTF-8, <see cref="Absent"/> for a header the request did not have);
/// then the body's length (4 bytes) and bytes.</para>
/// <para>Answer (<see cref="ResponseMediaType"/>, 200), per write in request order: the HTTP status
/// (2 bytes; <see cref="Skipped"/>: not attempted, to be sent as a request of its own), its headers
/// (a count byte, then name and value as strings) and its body (4-byte length and bytes) — exactly
/// what the node's own <c>PUT</c>/<c>DELETE</c> would have answered.</para>
/// </summary>
public static class WriteBatchWire
{
    public const string Path = "/cluster/write-batch";
    public const string RequestMediaType = "application/vnd.aspirecache.write-batch";
    public const string ResponseMediaType = "application/vnd.aspirecache.write-batch-result";

    public const byte Put = 1;
    public const byte Delete = 2;

    /// <summary>The status of a write the node did not attempt (a key outside the credential's prefixes): nothing was proposed.</summary>
    public const ushort Skipped = 0;

    /// <summary>The length that marks a header the request did not have (an empty one is length 0).</summary>
    private const ushort Absent = ushort.MaxValue;

    /// <summary>The longest string (key, query, header) the format carries; longer requests are sent on their own.</summary>
    public const int MaxStringBytes = ushort.MaxValue - 1;

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>One write of a batch; <see cref="Body"/> is a slice of the request's buffer on the node.</summary>
    public sealed record Write(byte Method, string Key, string Query, string? IfMatch, string? IfNoneMatch, string? IdempotencyKey, string? Accept, ReadOnlyMemory<byte> Body);

    /// <summary>One write's answer; <see cref="Body"/> is a slice of the answer's buffer on the router.</summary>
    public readonly record struct Answer(ushort Status, KeyValuePair<string, string>[] Headers, ReadOnlyMemory<byte> Body);

    /// <summary>Whether a write's strings fit the format (each at most <see cref="MaxStringBytes"/> in UTF-8).</summary>
    public static bool Fits(Write write) =>
        Fits(write.Key) && Fits(write.Query) && Fits(write.IfMatch) && Fits(write.IfNoneMatch) && Fits(write.IdempotencyKey) && Fits(write.Accept);

    // A UTF-16 char takes at most 3 UTF-8 bytes: only a long string is counted (the router checks every write).
    private static bool Fits(string? value) => value is null || value.Length <= MaxStringBytes / 3 || Encoding.UTF8.GetByteCount(value) <= MaxStringBytes;

    /// <summary>Encodes <paramref name="writes"/> as a request body (each must <see cref="Fits"/>).</summary>
    public static byte[] EncodeRequest(IReadOnlyList<Write> writes)
    {
        var length = 0;
        foreach (var write in writes)
        {
            length += 1 + Size(write.Key) + Size(write.Query) + Size(write.IfMatch) + Size(write.IfNoneMatch) + Size(write.IdempotencyKey) + Size(write.Accept) + 4 + write.Body.Length;
        }

        var body = new byte[length];
        var span = body.AsSpan();
        foreach (var write in writes)
        {
            span[0] = write.Method;
            span = span[1..];
            WriteString(ref span, write.Key);
            WriteString(ref span, write.Query);
            WriteString(ref span, write.IfMatch);
            WriteString(ref span, write.IfNoneMatch);
            WriteString(ref span, write.IdempotencyKey);
            WriteString(ref span, write.Accept);
            BinaryPrimitives.WriteInt32LittleEndian(span, write.Body.Length);
            write.Body.Span.CopyTo(span[4..]);
            span = span[(4 + write.Body.Length)..];
        }

        return body;
    }

    /// <summary>
    /// Decodes a request body; false when it is malformed (a length past the end, invalid UTF-8, an
    /// unknown method, a query that does not start with <c>?</c>) or has more than <paramref name="maxWrites"/> writes.
    /// </summary>
    public static bool TryDecodeRequest(ReadOnlyMemory<byte> body, int maxWrites, List<Write> writes)
    {
        var offset = 0;
        var span = body.Span;
        while (offset < span.Length)
        {
            if (writes.Count == maxWrites)
            {
                return false;
            }

            var method = span[offset++];
            if (method is not (Put or Delete)
                || !TryReadString(span, ref offset, out var key) || key is null
                || !TryReadString(span, ref offset, out var query) || query is null || (query.Length > 0 && query[0] != '?')
                || !TryReadString(span, ref offset, out var ifMatch)
                || !TryReadString(span, ref offset, out var ifNoneMatch)
                || !TryReadString(span, ref offset, out var idempotencyKey)
                || !TryReadString(span, ref offset, out var accept)
                || span.Length - offset < 4)
            {
                return false;
            }

            var length = BinaryPrimitives.ReadInt32LittleEndian(span[offset..]);
            offset += 4;
            if (length < 0 || span.Length - offset < length)
            {
                return false;
            }

            writes.Add(new Write(method, key, query, ifMatch, ifNoneMatch, idempotencyKey, accept, body.Slice(offset, length)));
            offset += length;
        }

        return writes.Count > 0;
    }

    /// <summary>Appends one write's answer (at most 255 headers, each name and value at most <see cref="MaxStringBytes"/>: more throws).</summary>
    public static void WriteAnswer(Stream output, int status, IReadOnlyCollection<KeyValuePair<string, string>> headers, ReadOnlySpan<byte> body)
    {
        Span<byte> scratch = stackalloc byte[4];
        BinaryPrimitives.WriteUInt16LittleEndian(scratch, checked((ushort)status));
        output.Write(scratch[..2]);
        output.WriteByte(checked((byte)headers.Count));
        foreach (var (name, value) in headers)
        {
            WriteString(output, name);
            WriteString(output, value);
        }

        BinaryPrimitives.WriteInt32LittleEndian(scratch, body.Length);
        output.Write(scratch);
        output.Write(body);
    }

    /// <summary>Decodes an answer of exactly <paramref name="count"/> writes; false when it is malformed.</summary>
    public static bool TryDecodeResponse(ReadOnlyMemory<byte> body, int count, Answer[] answers)
    {
        var span = body.Span;
        var offset = 0;
        for (var i = 0; i < count; i++)
        {
            if (span.Length - offset < 3)
            {
                return false;
            }

            var status = BinaryPrimitives.ReadUInt16LittleEndian(span[offset..]);
            int headerCount = span[offset + 2];
            offset += 3;
            if (status is not (Skipped or (>= 100 and <= 599)))
            {
                return false;
            }

            var headers = new KeyValuePair<string, string>[headerCount];
            for (var h = 0; h < headerCount; h++)
            {
                if (!TryReadString(span, ref offset, out var name) || name is null || !TryReadString(span, ref offset, out var value) || value is null)
                {
                    return false;
                }

                headers[h] = new(name, value);
            }

            if (span.Length - offset < 4)
            {
                return false;
            }

            var length = BinaryPrimitives.ReadInt32LittleEndian(span[offset..]);
            offset += 4;
            if (length < 0 || span.Length - offset < length)
            {
                return false;
            }

            answers[i] = new Answer(status, headers, body.Slice(offset, length));
            offset += length;
        }

        return offset == span.Length;
    }

    private static int Size(string? value) => 2 + (value is null ? 0 : Encoding.UTF8.GetByteCount(value));

    private static void WriteString(ref Span<byte> span, string? value)
    {
        if (value is null)
        {
            BinaryPrimitives.WriteUInt16LittleEndian(span, Absent);
            span = span[2..];
            return;
        }

        var written = Encoding.UTF8.GetBytes(value, span[2..]);
        BinaryPrimitives.WriteUInt16LittleEndian(span, checked((ushort)written));
        span = span[(2 + written)..];
    }

    private static void WriteString(Stream output, string value)
    {
        var bytes = Encoding.UTF8.GetBytes(value);
        if (bytes.Length > MaxStringBytes)
        {
            throw new ArgumentException("A header is longer than the format carries.", nameof(value));
        }

        Span<byte> length = stackalloc byte[2];
        BinaryPrimitives.WriteUInt16LittleEndian(length, (ushort)bytes.Length);
        output.Write(length);
        output.Write(bytes);
    }

    private static bool TryReadString(ReadOnlySpan<byte> span, ref int offset, out string? value)
    {
        value = null;
        if (span.Length - offset < 2)
        {
            return false;
        }

        var length = BinaryPrimitives.ReadUInt16LittleEndian(span[offset..]);
        offset += 2;
        if (length == Absent)
        {
            return true;
        }

        if (span.Length - offset < length)
        {
            return false;
        }

        try
        {
            value = StrictUtf8.GetString(span.Slice(offset, length));
        }
        catch (DecoderFallbackException)
        {
            return false;
        }

        offset += length;
        return true;
    }
}
