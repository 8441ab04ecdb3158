using System.Buffers;
using System.Buffers.Binary;

namespace AspireCache.Client.DistributedCache;

/// <summary>
/// The bytes <see cref="AspireCacheDistributedCache"/> stores under a key: a small header, then the value.
/// </summary>
/// <remarks>
/// <code>
/// byte 0      0xAD           marker
/// byte 1      1              format version
/// byte 2      flags          bit 0: sliding window follows; bit 1: absolute expiration follows
/// [8 bytes]   sliding window, milliseconds, int64 little-endian          (flag bit 0)
/// [8 bytes]   absolute expiration, Unix milliseconds, int64 little-endian (flag bit 1)
/// ...         the value
/// </code>
/// An entry without sliding expiration has the 3-byte header only (its expiry is the key's TTL);
/// the absolute expiration is stored only beside a sliding window, to cap its refreshes. A stored
/// value that does not start with a valid header (written by something else) is read as it is.
/// </remarks>
internal static class DistributedCacheEntryFormat
{
    public const byte Marker = 0xAD;
    public const byte Version = 1;
    private const byte SlidingFlag = 1;
    private const byte AbsoluteFlag = 2;

    /// <summary>The header's length for these options.</summary>
    public static int HeaderLength(TimeSpan? sliding, DateTimeOffset? absolute) =>
        3 + (sliding is null ? 0 : 8) + (sliding is not null && absolute is not null ? 8 : 0);

    /// <summary>Writes the header into <paramref name="destination"/>; returns its length.</summary>
    public static int WriteHeader(Span<byte> destination, TimeSpan? sliding, DateTimeOffset? absolute)
    {
        destination[0] = Marker;
        destination[1] = Version;
        byte flags = 0;
        var length = 3;
        if (sliding is { } window)
        {
            flags |= SlidingFlag;
            BinaryPrimitives.WriteInt64LittleEndian(destination[length..], (long)Math.Ceiling(window.TotalMilliseconds));
            length += 8;
            if (absolute is { } at)
            {
                flags |= AbsoluteFlag;
                BinaryPrimitives.WriteInt64LittleEndian(destination[length..], at.ToUnixTimeMilliseconds());
                length += 8;
            }
        }

        destination[2] = flags;
        return length;
    }

    /// <summary>Header + <paramref name="value"/> in one array.</summary>
    public static byte[] Encode(ReadOnlySpan<byte> value, TimeSpan? sliding, DateTimeOffset? absolute)
    {
        var stored = new byte[HeaderLength(sliding, absolute) + value.Length];
        var header = WriteHeader(stored, sliding, absolute);
        value.CopyTo(stored.AsSpan(header));
        return stored;
    }

    /// <summary>Header + <paramref name="value"/> in a rented array (return it to <see cref="ArrayPool{T}.Shared"/>); <paramref name="length"/> is the stored length.</summary>
    public static byte[] EncodeRented(in ReadOnlySequence<byte> value, TimeSpan? sliding, DateTimeOffset? absolute, out int length)
    {
        var header = HeaderLength(sliding, absolute);
        length = checked(header + (int)value.Length);
        var rented = ArrayPool<byte>.Shared.Rent(length);
        WriteHeader(rented, sliding, absolute);
        value.CopyTo(rented.AsSpan(header));
        return rented;
    }

    /// <summary>Splits stored bytes into the value and its expiration settings.</summary>
    public static StoredEntry Decode(ReadOnlyMemory<byte> stored)
    {
        var span = stored.Span;
        if (span.Length < 3 || span[0] != Marker || span[1] != Version || (span[2] & ~(SlidingFlag | AbsoluteFlag)) != 0)
        {
            return new StoredEntry(stored, null, null);
        }

        var flags = span[2];
        var offset = 3;
        TimeSpan? sliding = null;
        DateTimeOffset? absolute = null;
        if ((flags & SlidingFlag) != 0)
        {
            if (span.Length < offset + 8)
            {
                return new StoredEntry(stored, null, null);
            }

            var ms = BinaryPrimitives.ReadInt64LittleEndian(span[offset..]);
            offset += 8;
            if (ms <= 0)
            {
                return new StoredEntry(stored, null, null);
            }

            sliding = TimeSpan.FromMilliseconds(ms);
        }

        if ((flags & AbsoluteFlag) != 0)
        {
            if (sliding is null || span.Length < offset + 8)
            {
                return new StoredEntry(stored, null, null);
            }

            absolute = DateTimeOffset.FromUnixTimeMilliseconds(BinaryPrimitives.ReadInt64LittleEndian(span[offset..]));
            offset += 8;
        }

        return new StoredEntry(stored[offset..], sliding, absolute);
    }
}

/// <summary>A decoded stored entry.</summary>
/// <param name="Value">The value (a slice of the stored bytes).</param>
/// <param name="Sliding">The sliding window, if the entry has one.</param>
/// <param name="Absolute">The absolute expiration that caps the sliding window's refreshes, if any.</param>
internal readonly record struct StoredEntry(ReadOnlyMemory<byte> Value, TimeSpan? Sliding, DateTimeOffset? Absolute);
