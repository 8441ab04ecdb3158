using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;

namespace AspireCache.Node.Auth;

/// <summary>What a credential may do. <see cref="Admin"/> implies every scope.</summary>
[Flags]
public enum Scope
{
    None = 0,
    Read = 1,
    Write = 2,
    Admin = 4,
}

internal static class ScopeParser
{
    /// <summary>Parses scope names (each entry may hold several, comma-separated); admin implies read and write.</summary>
    public static bool TryParse(IEnumerable<string>? names, out Scope scopes, out string? unknown)
    {
        scopes = Scope.None;
        unknown = null;
        foreach (var entry in names ?? [])
        {
            foreach (var part in (entry ?? "").Split([',', ' '], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                switch (part.ToLowerInvariant())
                {
                    case "read":
                        scopes |= Scope.Read;
                        break;
                    case "write":
                        scopes |= Scope.Write;
                        break;
                    case "admin":
                        scopes |= Scope.Admin | Scope.Read | Scope.Write;
                        break;
                    default:
                        unknown = part;
                        return false;
                }
            }
        }

        return scopes != Scope.None;
    }

    public static string Name(Scope scope) => scope switch
    {
        Scope.Read => "read",
        Scope.Write => "write",
        Scope.Admin => "admin",
        _ => scope.ToString().ToLowerInvariant(),
    };
}

/// <summary>An accepted credential: its name, scopes and key prefixes (never its key: only a hash of it is kept).</summary>
public sealed class ClientCredential
{
    internal ClientCredential(string name, Scope scopes, string[] prefixes, byte[] keyHash)
    {
        Name = name;
        Scopes = scopes;
        Prefixes = prefixes;
        KeyHash = keyHash;
    }

    public string Name { get; }

    public Scope Scopes { get; }

    /// <summary>Key prefixes it is limited to; empty: every key.</summary>
    public string[] Prefixes { get; }

    public bool IsPrefixLimited => Prefixes.Length > 0;

    /// <summary>SHA-256 of the key (compared in constant time).</summary>
    internal byte[] KeyHash { get; }

    public bool Has(Scope scope) => (Scopes & scope) == scope;

    /// <summary>The key lies under one of the credential's prefixes (or it has none).</summary>
    public bool AllowsKey(string key)
    {
        if (Prefixes.Length == 0)
        {
            return true;
        }

        foreach (var prefix in Prefixes)
        {
            if (key.StartsWith(prefix, StringComparison.Ordinal))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Every key under <paramref name="prefix"/> is allowed (a list or watch of it reveals nothing else).</summary>
    public bool AllowsPrefix(string prefix) => AllowsKey(prefix);

    public override string ToString() => Name; // never the key
}

/// <summary>
/// The credentials a node accepts, indexed by the SHA-256 of their keys. Authenticating a bearer
/// token costs one SHA-256 of it (no allocation for tokens up to 512 characters), one dictionary
/// lookup and a constant-time comparison of the two hashes; the token itself is never kept.
/// </summary>
public sealed class CredentialStore
{
    private readonly Dictionary<KeyHash, ClientCredential> _byHash;

    public CredentialStore(IOptions<AuthOptions> options)
        : this(options.Value)
    {
    }

    public CredentialStore(AuthOptions options)
    {
        Enforced = options.IsEnforced;
        _byHash = new Dictionary<KeyHash, ClientCredential>(options.Credentials.Count);
        foreach (var c in options.Credentials)
        {
            ScopeParser.TryParse(c.Scopes, out var scopes, out _);
            var hash = SHA256.HashData(Encoding.UTF8.GetBytes(c.Key));
            _byHash[KeyHash.From(hash)] = new ClientCredential(c.Name, scopes, [.. c.Prefixes.Where(p => p.Length > 0).Distinct(StringComparer.Ordinal)], hash);
        }
    }

    /// <summary>Requests must present a credential.</summary>
    public bool Enforced { get; }

    public int Count => _byHash.Count;

    /// <summary>The credential whose key is <paramref name="token"/>, or <see langword="null"/>.</summary>
    public ClientCredential? Authenticate(ReadOnlySpan<char> token)
    {
        if (token.Length is 0 or > AuthOptions.MaxKeyLength)
        {
            return null;
        }

        Span<byte> utf8 = stackalloc byte[AuthOptions.MaxKeyLength * 3];
        var length = Encoding.UTF8.GetBytes(token, utf8);
        Span<byte> hash = stackalloc byte[SHA256.HashSizeInBytes];
        SHA256.HashData(utf8[..length], hash);
        utf8[..length].Clear();

        // The lookup compares hashes (which an attacker cannot steer byte by byte); the final
        // comparison is constant-time anyway.
        return _byHash.TryGetValue(KeyHash.From(hash), out var credential)
               && CryptographicOperations.FixedTimeEquals(hash, credential.KeyHash)
            ? credential
            : null;
    }

    /// <summary>Extracts the token of <c>Authorization: Bearer &lt;token&gt;</c> (scheme case-insensitive); empty if absent or another scheme.</summary>
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

    /// <summary>A SHA-256 as four words: a dictionary key without allocation.</summary>
    private readonly record struct KeyHash(ulong A, ulong B, ulong C, ulong D)
    {
        public static KeyHash From(ReadOnlySpan<byte> hash) => new(
            BinaryPrimitives.ReadUInt64LittleEndian(hash),
            BinaryPrimitives.ReadUInt64LittleEndian(hash[8..]),
            BinaryPrimitives.ReadUInt64LittleEndian(hash[16..]),
            BinaryPrimitives.ReadUInt64LittleEndian(hash[24..]));
    }
}
