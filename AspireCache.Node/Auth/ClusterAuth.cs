using System.Collections.Concurrent;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using AspireCache.Node.Api;
using AspireCache.Node.Diagnostics;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Options;

namespace AspireCache.Node.Auth;

/// <summary>
/// The node-to-node signature (v1). Bodies are never read: an InstallSnapshot can be hundreds of
/// megabytes. Signed: the method, the request target, the timestamp, the nonce, the body's framing
/// (its Content-Length, or "chunked") and every <c>X-Raft-*</c> header plus <c>X-Request-ID</c>
/// (DotNext's message type, sender id, term, indexes, counts), one canonical line each:
/// <code>
/// v1\n{METHOD}\n{target}\n{unix ms}\n{nonce}\n{length}\n{name}:{value}\n…   (names lower-case, sorted)
/// </code>
/// sent as <c>X-AspireCache-Cluster-Auth: v1 ts={unix ms};nonce={16 bytes base64url};sig={HMAC-SHA256 base64url}</c>.
/// </summary>
public static class ClusterSignature
{
    public const string HeaderName = "X-AspireCache-Cluster-Auth";
    public const string Scheme = "v1";
    private const string RaftHeaderPrefix = "X-Raft-";
    private const string RequestIdHeader = "X-Request-ID";

    /// <summary>DotNext's HTTP Raft endpoint (<c>/cluster-consensus/raft</c>, its default protocol path).</summary>
    public static readonly PathString RaftProtocolPath = "/cluster-consensus";

    /// <summary>Whether a header takes part in the signature.</summary>
    public static bool IsSigned(string name) =>
        name.StartsWith(RaftHeaderPrefix, StringComparison.OrdinalIgnoreCase)
        || name.Equals(RequestIdHeader, StringComparison.OrdinalIgnoreCase);

    /// <summary>The header value for a request (what the sender's handler adds).</summary>
    public static string Create(ReadOnlySpan<byte> key, string method, string target, long timestampMs, string nonce, string length, IEnumerable<KeyValuePair<string, string>> signedHeaders) =>
        $"{Scheme} ts={timestampMs.ToString(CultureInfo.InvariantCulture)};nonce={nonce};sig={Compute(key, method, target, timestampMs, nonce, length, signedHeaders)}";

    /// <summary>base64url(HMAC-SHA256(key, canonical request)).</summary>
    public static string Compute(ReadOnlySpan<byte> key, string method, string target, long timestampMs, string nonce, string length, IEnumerable<KeyValuePair<string, string>> signedHeaders)
    {
        Span<byte> mac = stackalloc byte[HMACSHA256.HashSizeInBytes];
        ComputeInto(key, Canonical(method, target, timestampMs, nonce, length, signedHeaders), mac);
        return Base64Url(mac);
    }

    internal static byte[] Canonical(string method, string target, long timestampMs, string nonce, string length, IEnumerable<KeyValuePair<string, string>> signedHeaders)
    {
        var text = new StringBuilder(256)
            .Append(Scheme).Append('\n')
            .Append(method.ToUpperInvariant()).Append('\n')
            .Append(target).Append('\n')
            .Append(timestampMs.ToString(CultureInfo.InvariantCulture)).Append('\n')
            .Append(nonce).Append('\n')
            .Append(length).Append('\n');
        foreach (var (name, value) in signedHeaders
                     .Select(h => KeyValuePair.Create(h.Key.ToLowerInvariant(), h.Value))
                     .OrderBy(h => h.Key, StringComparer.Ordinal)
                     .ThenBy(h => h.Value, StringComparer.Ordinal))
        {
            text.Append(name).Append(':').Append(value).Append('\n');
        }

        return Encoding.UTF8.GetBytes(text.ToString());
    }

    internal static void ComputeInto(ReadOnlySpan<byte> key, ReadOnlySpan<byte> canonical, Span<byte> mac) =>
        HMACSHA256.HashData(key, canonical, mac);

    internal static string Base64Url(ReadOnlySpan<byte> bytes) => System.Buffers.Text.Base64Url.EncodeToString(bytes);

    /// <summary>Parses <c>v1 ts=…;nonce=…;sig=…</c>; false for anything else.</summary>
    internal static bool TryParse(string? header, out long timestampMs, out string nonce, out byte[] signature)
    {
        timestampMs = 0;
        nonce = "";
        signature = [];
        if (header is null || header.Length > 256 || !header.StartsWith(Scheme + " ", StringComparison.Ordinal))
        {
            return false;
        }

        string? ts = null, n = null, sig = null;
        foreach (var part in header.AsSpan(Scheme.Length + 1).ToString().Split(';'))
        {
            var eq = part.IndexOf('=');
            if (eq <= 0)
            {
                return false;
            }

            var value = part[(eq + 1)..].Trim();
            switch (part[..eq].Trim())
            {
                case "ts": ts = value; break;
                case "nonce": n = value; break;
                case "sig": sig = value; break;
                default: return false;
            }
        }

        if (ts is null || n is null || sig is null
            || !long.TryParse(ts, NumberStyles.None, CultureInfo.InvariantCulture, out timestampMs)
            || n.Length != 22 || !IsBase64Url(n) || sig.Length != 43 || !IsBase64Url(sig))
        {
            return false;
        }

        nonce = n;
        signature = System.Buffers.Text.Base64Url.DecodeFromChars(sig);
        return signature.Length == HMACSHA256.HashSizeInBytes;
    }

    private static bool IsBase64Url(string s)
    {
        foreach (var c in s)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c is '-' or '_'))
            {
                return false;
            }
        }

        return true;
    }
}

/// <summary>Signs outgoing node-to-node requests and checks incoming ones (one per node; off without a secret).</summary>
public sealed class ClusterAuthenticator
{
    private readonly byte[]? _key;
    private readonly byte[]? _previousKey;
    private readonly TimeProvider _clock;
    private readonly long _skewMs;

    public ClusterAuthenticator(IOptions<ClusterAuthOptions> options, TimeProvider clock)
    {
        var o = options.Value;
        _clock = clock;
        _skewMs = (long)o.AuthMaxClockSkew.TotalMilliseconds;
        if (o.IsEnabled)
        {
            _key = Encoding.UTF8.GetBytes(o.Secret!);
            _previousKey = string.IsNullOrEmpty(o.PreviousSecret) ? null : Encoding.UTF8.GetBytes(o.PreviousSecret);
        }

        Nonces = new NonceCache(o.AuthNonceCapacity);
    }

    public bool Enabled => _key is not null;

    /// <summary>Nonces seen within the window (replay protection).</summary>
    internal NonceCache Nonces { get; }

    /// <summary>Adds the signature header to <paramref name="request"/> (never reads its body).</summary>
    public void Sign(HttpRequestMessage request)
    {
        if (_key is null)
        {
            return;
        }

        request.Headers.Remove(ClusterSignature.HeaderName);
        Span<byte> nonceBytes = stackalloc byte[16];
        RandomNumberGenerator.Fill(nonceBytes);
        var nonce = ClusterSignature.Base64Url(nonceBytes);
        var target = request.RequestUri is { IsAbsoluteUri: true } uri ? uri.PathAndQuery : request.RequestUri?.OriginalString ?? "/";
        request.Headers.TryAddWithoutValidation(
            ClusterSignature.HeaderName,
            ClusterSignature.Create(_key, request.Method.Method, target, _clock.GetUtcNow().ToUnixTimeMilliseconds(), nonce, OutgoingLength(request), SignedHeaders(request)));
    }

    /// <summary>Checks an incoming request; returns null when it is authentic and fresh, else why not.</summary>
    public ClusterAuthFailure? Verify(HttpRequest request)
    {
        if (_key is null)
        {
            return null;
        }

        var values = request.Headers[ClusterSignature.HeaderName];
        if (values.Count == 0)
        {
            return ClusterAuthFailure.Missing;
        }

        if (values.Count != 1 || !ClusterSignature.TryParse(values[0], out var ts, out var nonce, out var signature))
        {
            return ClusterAuthFailure.Malformed;
        }

        var target = request.HttpContext.Features.Get<IHttpRequestFeature>()?.RawTarget is { Length: > 0 } raw
            ? raw
            : request.PathBase.Add(request.Path).ToUriComponent() + request.QueryString.ToUriComponent();
        var canonical = ClusterSignature.Canonical(request.Method, target, ts, nonce, IncomingLength(request), SignedHeaders(request.Headers));
        Span<byte> expected = stackalloc byte[HMACSHA256.HashSizeInBytes];
        ClusterSignature.ComputeInto(_key, canonical, expected);
        var valid = CryptographicOperations.FixedTimeEquals(expected, signature);
        if (!valid && _previousKey is not null)
        {
            ClusterSignature.ComputeInto(_previousKey, canonical, expected);
            valid = CryptographicOperations.FixedTimeEquals(expected, signature);
        }

        if (!valid)
        {
            return ClusterAuthFailure.BadSignature;
        }

        // Only an authentic request reaches the clock and the nonce cache (a forger cannot fill it).
        var now = _clock.GetUtcNow().ToUnixTimeMilliseconds();
        if (Math.Abs(now - ts) > _skewMs)
        {
            return ClusterAuthFailure.Stale;
        }

        var nonceKey = BitConverter.ToUInt128(System.Buffers.Text.Base64Url.DecodeFromChars(nonce));
        return Nonces.TryAdd(nonceKey, ts + _skewMs, now) switch
        {
            NonceResult.Added => null,
            NonceResult.Replayed => ClusterAuthFailure.Replayed,
            _ => ClusterAuthFailure.NonceCacheFull,
        };
    }

    /// <summary>The body's framing as the receiver will see it: its length, "chunked" when unknown, "0" for none.</summary>
    private static string OutgoingLength(HttpRequestMessage request) =>
        request.Content is null ? "0"
        : request.Content.Headers.ContentLength is { } length ? length.ToString(CultureInfo.InvariantCulture)
        : "chunked";

    private static string IncomingLength(HttpRequest request) =>
        request.ContentLength is { } length ? length.ToString(CultureInfo.InvariantCulture)
        : request.HttpContext.Features.Get<IHttpRequestBodyDetectionFeature>()?.CanHaveBody == true ? "chunked"
        : "0";

    private static IEnumerable<KeyValuePair<string, string>> SignedHeaders(HttpRequestMessage request)
    {
        foreach (var (name, values) in request.Headers.NonValidated)
        {
            if (ClusterSignature.IsSigned(name))
            {
                yield return KeyValuePair.Create(name, string.Join(", ", values));
            }
        }

        if (request.Content is not null)
        {
            foreach (var (name, values) in request.Content.Headers.NonValidated)
            {
                if (ClusterSignature.IsSigned(name))
                {
                    yield return KeyValuePair.Create(name, string.Join(", ", values));
                }
            }
        }
    }

    internal static IEnumerable<KeyValuePair<string, string>> SignedHeaders(IHeaderDictionary headers)
    {
        foreach (var (name, values) in headers)
        {
            if (ClusterSignature.IsSigned(name))
            {
                yield return KeyValuePair.Create(name, string.Join(", ", (IEnumerable<string?>)values));
            }
        }
    }
}

public enum ClusterAuthFailure
{
    Missing,
    Malformed,
    BadSignature,
    Stale,
    Replayed,
    NonceCacheFull,
}

internal enum NonceResult
{
    Added,
    Replayed,
    Full,
}

/// <summary>
/// Nonces of accepted requests, each kept until its timestamp leaves the window (after that the
/// timestamp check refuses a replay on its own). Bounded: when full of unexpired nonces, a new one
/// is refused rather than an old one forgotten (forgetting would re-open replay).
/// Nonces are filed in one-second buckets by when they may be forgotten: a replay carries the same
/// signed timestamp, so it is looked for in one bucket, and expiry drops whole buckets (O(1) each)
/// instead of sweeping every nonce on a Raft request's thread (which measured as an O(n) pause
/// four times a second under write load).
/// </summary>
internal sealed class NonceCache(int capacity)
{
    private const long BucketMs = 1_000;
    private readonly Dictionary<long, HashSet<UInt128>> _buckets = [];
    private readonly List<long> _expired = [];
    private readonly Lock _gate = new();
    private int _count;
    private long _nextExpiryMs;

    public int Count => Volatile.Read(ref _count);

    public int Capacity => capacity;

    public NonceResult TryAdd(UInt128 nonce, long forgetAfterMs, long nowMs)
    {
        var id = forgetAfterMs / BucketMs;
        lock (_gate)
        {
            if (nowMs >= _nextExpiryMs)
            {
                Expire(nowMs);
            }

            if (_buckets.TryGetValue(id, out var bucket) && bucket.Contains(nonce))
            {
                return NonceResult.Replayed;
            }

            if (_count >= capacity)
            {
                return NonceResult.Full;
            }

            if (bucket is null)
            {
                _buckets[id] = bucket = [];
            }

            bucket.Add(nonce);
            Volatile.Write(ref _count, _count + 1);
            return NonceResult.Added;
        }
    }

    /// <summary>Drops the buckets whose every nonce may be forgotten by now (at most one per second of the window exists).</summary>
    private void Expire(long nowMs)
    {
        _expired.Clear();
        foreach (var (id, bucket) in _buckets)
        {
            if ((id + 1) * BucketMs <= nowMs)
            {
                _expired.Add(id);
                Volatile.Write(ref _count, _count - bucket.Count);
            }
        }

        foreach (var id in _expired)
        {
            _buckets.Remove(id);
        }

        _nextExpiryMs = nowMs + 250;
    }
}

/// <summary>Signs every request of the node-to-node HttpClients (DotNext's <c>raftClient</c>, read-index and access reports).</summary>
internal sealed class ClusterSigningHandler(ClusterAuthenticator authenticator) : DelegatingHandler
{
    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        authenticator.Sign(request);
        return base.SendAsync(request, cancellationToken);
    }

    protected override HttpResponseMessage Send(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        authenticator.Sign(request);
        return base.Send(request, cancellationToken);
    }
}

/// <summary>
/// In front of DotNext's consensus handler (and of the node-to-node endpoints): a request that is a
/// Raft message (has <c>X-Raft-Message-Type</c>, on any path), or targets DotNext's protocol path,
/// <c>/cluster/read-index</c> or <c>/cluster/access</c>, must carry a valid, fresh, unreplayed
/// signature, else 401 (503 when the nonce cache is full) before anything reads it.
/// </summary>
internal sealed class ClusterAuthMiddleware(RequestDelegate next, ClusterAuthenticator authenticator, RefusalLog refusals)
{
    private static readonly PathString ReadIndexPath = Raft.ReadIndexService.ReadIndexPath;
    private static readonly PathString AccessPath = Eviction.AccessReporter.AccessPath;

    public static bool IsClusterRequest(HttpRequest request) =>
        request.Headers.ContainsKey("X-Raft-Message-Type")
        || request.Path.StartsWithSegments(ClusterSignature.RaftProtocolPath, StringComparison.OrdinalIgnoreCase)
        || request.Path.StartsWithSegments(ReadIndexPath, StringComparison.OrdinalIgnoreCase)
        || request.Path.StartsWithSegments(AccessPath, StringComparison.OrdinalIgnoreCase);

    public Task InvokeAsync(HttpContext context)
    {
        if (!IsClusterRequest(context.Request) || authenticator.Verify(context.Request) is not { } failure)
        {
            return next(context);
        }

        return RefuseAsync(context, failure);
    }

    private async Task RefuseAsync(HttpContext context, ClusterAuthFailure failure)
    {
        var reason = Reason(failure);
        refusals.Refused(context, reason, reason);
        if (failure == ClusterAuthFailure.NonceCacheFull)
        {
            context.Response.Headers.RetryAfter = "1";
            await Problems.Create(StatusCodes.Status503ServiceUnavailable, "cluster-auth-overloaded", "Too many node-to-node requests to remember", "The replay-protection cache is full of unexpired nonces; retry shortly.").ExecuteAsync(context);
            return;
        }

        context.Response.Headers.WWWAuthenticate = "AspireCache-Cluster";
        await Problems.Create(StatusCodes.Status401Unauthorized, "cluster-unauthenticated", "Node-to-node request not authenticated", Detail(failure)).ExecuteAsync(context);
    }

    internal static string Reason(ClusterAuthFailure failure) => failure switch
    {
        ClusterAuthFailure.Missing => "missing",
        ClusterAuthFailure.Malformed => "malformed",
        ClusterAuthFailure.BadSignature => "bad_signature",
        ClusterAuthFailure.Stale => "stale",
        ClusterAuthFailure.Replayed => "replayed",
        _ => "nonce_cache_full",
    };

    private static string Detail(ClusterAuthFailure failure) => failure switch
    {
        ClusterAuthFailure.Missing => $"Cluster traffic must carry '{ClusterSignature.HeaderName}' signed with the cluster secret.",
        ClusterAuthFailure.Malformed => $"'{ClusterSignature.HeaderName}' is not 'v1 ts=<unix ms>;nonce=<base64url>;sig=<base64url>'.",
        ClusterAuthFailure.BadSignature => "The signature does not match the cluster secret.",
        ClusterAuthFailure.Stale => "The request's timestamp is outside the accepted clock skew.",
        _ => "This request was already accepted once (replayed nonce).",
    };
}
