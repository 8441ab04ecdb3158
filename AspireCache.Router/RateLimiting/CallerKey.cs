using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Connections.Features;

namespace AspireCache.Router.RateLimiting;

/// <summary>What a caller is partitioned by.</summary>
internal enum CallerKind : byte
{
    /// <summary>A bearer key (by its SHA-256).</summary>
    Credential = 1,

    /// <summary>No bearer key: the remote address (IPv4, or an IPv6 /64).</summary>
    Address = 2,
}

/// <summary>
/// A caller's identity for rate limiting, as a value (no allocation): the SHA-256 of its bearer key,
/// or its remote address. The key itself is never kept; a reference comparison of header strings
/// per connection (see <see cref="Of"/>) reveals nothing about it.
/// </summary>
internal readonly record struct CallerKey(ulong A, ulong B, ulong C, ulong D, CallerKind Kind)
{
    /// <summary>Longest bearer key hashed (the nodes accept at most 512 characters); a longer one counts as no key.</summary>
    public const int MaxKeyLength = 512;

    /// <summary>
    /// The caller of <paramref name="context"/>. On an HTTP/1.1 connection the key computed for the
    /// last <c>Authorization</c> header is remembered by the header string's <em>instance</em>
    /// (Kestrel hands out the same string when a connection repeats a header value), so a keep-alive
    /// client pays for the SHA-256 once per connection, as the nodes' authentication does.
    /// </summary>
    public static CallerKey Of(HttpContext context)
    {
        var authorization = context.Request.Headers.Authorization;
        var header = authorization.Count == 1 ? authorization[0] : null;
        if (header is null)
        {
            return OfAddress(context.Connection.RemoteIpAddress);
        }

        var items = HttpProtocol.IsHttp11(context.Request.Protocol)
            ? context.Features.Get<IConnectionItemsFeature>()?.Items
            : null;
        if (items is not null && items.TryGetValue(typeof(Memo), out var cached) && cached is Memo memo && ReferenceEquals(memo.Header, header))
        {
            return memo.Key;
        }

        var key = TryHashBearer(header, out var hashed) ? hashed : OfAddress(context.Connection.RemoteIpAddress);
        if (items is not null)
        {
            items[typeof(Memo)] = new Memo(header, key);
        }

        return key;
    }

    /// <summary>The SHA-256 of the token of <c>Authorization: Bearer &lt;token&gt;</c>; false without one (or one too long).</summary>
    public static bool TryHashBearer(string? authorization, out CallerKey key)
    {
        var token = BearerToken(authorization);
        if (token.IsEmpty || token.Length > MaxKeyLength)
        {
            key = default;
            return false;
        }

        Span<byte> utf8 = stackalloc byte[MaxKeyLength * 3];
        var length = Encoding.UTF8.GetBytes(token, utf8);
        Span<byte> hash = stackalloc byte[SHA256.HashSizeInBytes];
        SHA256.HashData(utf8[..length], hash);
        utf8[..length].Clear();
        key = new CallerKey(
            BinaryPrimitives.ReadUInt64LittleEndian(hash),
            BinaryPrimitives.ReadUInt64LittleEndian(hash[8..]),
            BinaryPrimitives.ReadUInt64LittleEndian(hash[16..]),
            BinaryPrimitives.ReadUInt64LittleEndian(hash[24..]),
            CallerKind.Credential);
        hash.Clear();
        return true;
    }

    /// <summary>The token of <c>Authorization: Bearer &lt;token&gt;</c> (scheme case-insensitive); empty if absent or another scheme.</summary>
    public static ReadOnlySpan<char> BearerToken(ReadOnlySpan<char> authorization)
    {
        authorization = authorization.Trim();
        const string scheme = "Bearer";
        if (authorization.Length <= scheme.Length || !authorization.StartsWith(scheme, StringComparison.OrdinalIgnoreCase) || authorization[scheme.Length] != ' ')
        {
            return default;
        }

        return authorization[(scheme.Length + 1)..].Trim();
    }

    /// <summary>An IPv4 address, or the /64 of an IPv6 one (one host usually holds a whole /64); IPv4-mapped IPv6 counts as IPv4.</summary>
    public static CallerKey OfAddress(IPAddress? address)
    {
        if (address is null)
        {
            return new CallerKey(0, 0, 0, 0, CallerKind.Address);
        }

        Span<byte> bytes = stackalloc byte[16];
        if (!address.TryWriteBytes(bytes, out var written))
        {
            return new CallerKey(0, 0, 0, 0, CallerKind.Address);
        }

        if (address.AddressFamily == AddressFamily.InterNetwork || (written == 16 && address.IsIPv4MappedToIPv6))
        {
            var v4 = written == 4 ? bytes[..4] : bytes.Slice(12, 4);
            return new CallerKey(BinaryPrimitives.ReadUInt32BigEndian(v4), 4, 0, 0, CallerKind.Address);
        }

        return new CallerKey(BinaryPrimitives.ReadUInt64BigEndian(bytes), 6, 0, 0, CallerKind.Address);
    }

    public override string ToString() => Kind == CallerKind.Credential ? "credential" : "address"; // never the hash

    /// <summary>The last header string seen on a connection and the key it gave.</summary>
    private sealed record Memo(string Header, CallerKey Key);
}
