using System.Net;

namespace AspireCache.Client;

/// <summary>
/// An error answered by AspireCache (an RFC 9457 problem), or a call that could not complete.
/// <see cref="Type"/> is one of <c>AspireCache.Contracts.ProblemTypes</c> when the server sent one.
/// </summary>
public class AspireCacheException : Exception
{
    /// <summary>Creates the exception.</summary>
    public AspireCacheException(int status, string? type, string? title, string? detail, Exception? inner = null)
        : base(Compose(status, type, title, detail), inner)
    {
        Status = status;
        Type = type;
        Title = title;
        Detail = detail;
    }

    /// <summary>The HTTP status (0 when no answer was received).</summary>
    public int Status { get; }

    /// <summary>The problem <c>type</c> URI, if any.</summary>
    public string? Type { get; }

    /// <summary>The problem <c>title</c>, if any.</summary>
    public string? Title { get; }

    /// <summary>The problem <c>detail</c>, if any.</summary>
    public string? Detail { get; }

    private static string Compose(int status, string? type, string? title, string? detail)
    {
        var name = type is null ? null : type[(type.LastIndexOf('/') + 1)..];
        var text = title ?? (status == 0 ? "No answer" : ((HttpStatusCode)status).ToString());
        return $"{(status == 0 ? "" : status + " ")}{text}{(name is null ? "" : $" ({name})")}{(detail is null ? "" : ": " + detail)}";
    }
}

/// <summary>412: a version condition did not hold (compare-and-set, create-only, a batch's <c>if</c>). Nothing was written.</summary>
public sealed class PreconditionFailedException : AspireCacheException
{
    /// <summary>Creates the exception.</summary>
    public PreconditionFailedException(string? title, string? detail, string? key, long? currentVersion)
        : base(412, Contracts.ProblemTypes.PreconditionFailed, title, detail)
    {
        Key = key;
        CurrentVersion = currentVersion;
    }

    /// <summary>The key whose condition failed (null for a batch).</summary>
    public string? Key { get; }

    /// <summary>The key's current version (from the ETag or <c>currentVersion</c>); null for a batch, or when the key is absent.</summary>
    public long? CurrentVersion { get; }
}

/// <summary>413: a value, or a batch, is over the server's limits.</summary>
public sealed class TooLargeException(string? title, string? detail)
    : AspireCacheException(413, Contracts.ProblemTypes.TooLarge, title, detail);

/// <summary>400 <c>invalid-key</c>: empty, too long, or with control characters.</summary>
public sealed class InvalidKeyException(string? title, string? detail)
    : AspireCacheException(400, Contracts.ProblemTypes.InvalidKey, title, detail);

/// <summary>
/// The cluster could not serve the call within its deadline (no leader, lost quorum, overload, no
/// node reachable). For a write, thrown only when it certainly was not applied; otherwise
/// <see cref="OutcomeUnknownException"/>.
/// </summary>
public sealed class UnavailableException(int status, string? type, string? title, string? detail, TimeSpan? retryAfter, Exception? inner = null)
    : AspireCacheException(status, type, title, detail, inner)
{
    /// <summary>The server's last <c>Retry-After</c>, if any.</summary>
    public TimeSpan? RetryAfter { get; } = retryAfter;
}

/// <summary>
/// 429: the caller is over a limit — the router's request rate for its credential (or address), or a
/// node's watch streams per credential. Nothing was done. Calls are retried after
/// <see cref="RetryAfter"/> within their deadline (watches reconnect after it), so this is thrown
/// when the deadline would pass before the server allows another attempt.
/// </summary>
public sealed class RateLimitedException(string? type, string? title, string? detail, TimeSpan? retryAfter, Exception? inner = null)
    : AspireCacheException(429, type, title, detail, inner)
{
    /// <summary>The server's <c>Retry-After</c>: how long to wait before trying again.</summary>
    public TimeSpan? RetryAfter { get; } = retryAfter;
}

/// <summary>
/// A write whose outcome is unknown when its deadline passed: it may have been applied (its commit
/// was not confirmed, or the connection was lost after it was sent). Retrying it with the same
/// <see cref="IdempotencyKey"/> within 10 minutes is safe: it is then applied at most once.
/// </summary>
public sealed class OutcomeUnknownException(string idempotencyKey, string? detail, Exception? inner)
    : AspireCacheException(0, null, "The write's outcome is unknown", detail, inner)
{
    /// <summary>The idempotency key every attempt of the write carried.</summary>
    public string IdempotencyKey { get; } = idempotencyKey;
}
