using System.Globalization;
using AspireCache.Node.StateMachine;
using Microsoft.AspNetCore.Http.HttpResults;

namespace AspireCache.Node.Api;

/// <summary>Strict parsing of the optional parts of a request; each failure is a 400 problem.</summary>
public static class RequestParsing
{
    public const int MaxIdempotencyKeyLength = 128;

    /// <summary><c>consistent=true|false</c>, default true.</summary>
    public static bool TryGetConsistent(HttpRequest request, out bool consistent, out ProblemHttpResult problem)
    {
        problem = null!;
        consistent = true;
        var values = request.Query["consistent"];
        if (values.Count == 0 || (values.Count == 1 && bool.TryParse(values[0], out consistent)))
        {
            return true;
        }

        problem = Problems.BadRequest("Invalid consistency", "The 'consistent' query parameter must be 'true' or 'false'.");
        return false;
    }

    /// <summary>
    /// <c>Idempotency-Key</c> (IETF httpapi draft): optional, 1–128 printable ASCII characters.
    /// A repeated key with the same request returns the recorded result; with a different request, 422.
    /// </summary>
    public static bool TryGetIdempotencyKey(HttpRequest request, out string? key, out ProblemHttpResult problem)
    {
        problem = null!;
        key = null;
        var values = request.Headers[CacheApi.IdempotencyKeyHeader];
        if (values.Count == 0)
        {
            return true;
        }

        key = values.Count == 1 ? values[0] : null;
        if (string.IsNullOrEmpty(key) || key.Length > MaxIdempotencyKeyLength || key.Any(c => c is < (char)0x21 or > (char)0x7E))
        {
            problem = Problems.BadRequest("Invalid Idempotency-Key", $"The Idempotency-Key header must be one value of 1–{MaxIdempotencyKeyLength} printable ASCII characters.");
            return false;
        }

        return true;
    }

    /// <summary>
    /// Compare-and-set: <c>If-Match: "&lt;version&gt;"</c> (exactly that version), <c>If-Match: *</c>
    /// (must exist), <c>If-None-Match: *</c> (must not exist: create-only).
    /// </summary>
    public static bool TryGetCondition(HttpRequest request, out long? expected, out ProblemHttpResult problem)
    {
        problem = null!;
        expected = null;
        var ifMatch = request.Headers.IfMatch;
        var ifNoneMatch = request.Headers.IfNoneMatch;
        if (ifMatch.Count > 0 && ifNoneMatch.Count > 0)
        {
            problem = Problems.BadRequest("Invalid condition", "Use either If-Match or If-None-Match, not both.");
            return false;
        }

        if (ifNoneMatch.Count > 0)
        {
            if (ifNoneMatch is [var value] && value?.Trim() == "*")
            {
                expected = ExpectedVersion.Absent;
                return true;
            }

            problem = Problems.BadRequest("Invalid condition", "On writes, If-None-Match supports only '*' (create if absent).");
            return false;
        }

        if (ifMatch.Count > 0)
        {
            var value = ifMatch.Count == 1 ? ifMatch[0]?.Trim() : null;
            if (value == "*")
            {
                expected = ExpectedVersion.Any;
                return true;
            }

            if (value is { Length: > 2 } && value[0] == '"' && value[^1] == '"'
                && long.TryParse(value.AsSpan(1, value.Length - 2), NumberStyles.None, CultureInfo.InvariantCulture, out var version)
                && version > 0)
            {
                expected = version;
                return true;
            }

            problem = Problems.BadRequest("Invalid condition", "If-Match must be one ETag such as \"42\", or '*'.");
            return false;
        }

        return true;
    }

    /// <summary><c>ttl=30</c> (seconds) or with a unit: <c>500ms</c>, <c>30s</c>, <c>5m</c>, <c>1h</c>, <c>1d</c>.</summary>
    public static bool TryGetTtl(HttpRequest request, CacheLimitsOptions options, out long ttlMs, out ProblemHttpResult problem)
    {
        problem = null!;
        ttlMs = 0;
        var values = request.Query["ttl"];
        if (values.Count == 0)
        {
            return true;
        }

        if (values.Count == 1 && TryParseDuration(values[0], out ttlMs) && ttlMs > 0 && ttlMs <= options.MaxTtl.TotalMilliseconds)
        {
            return true;
        }

        problem = Problems.BadRequest("Invalid ttl", $"'ttl' must be a positive duration up to {options.MaxTtl.TotalDays:0} days: seconds (30) or with a unit (500ms, 30s, 5m, 1h, 1d).");
        return false;
    }

    /// <summary>
    /// An optional integer query parameter (<c>waitMs</c>, <c>term</c>): absent or empty = null, else
    /// one integer. Parsed here rather than bound by the framework, whose binding failure is an
    /// empty 400 instead of a problem (found by the API fuzzer).
    /// </summary>
    public static bool TryGetInt64(HttpRequest request, string name, out long? value, out ProblemHttpResult problem)
    {
        problem = null!;
        value = null;
        var values = request.Query[name];
        if (values.Count == 0 || (values.Count == 1 && string.IsNullOrEmpty(values[0])))
        {
            return true;
        }

        if (values.Count == 1 && long.TryParse(values[0], NumberStyles.Integer, CultureInfo.InvariantCulture, out var parsed))
        {
            value = parsed;
            return true;
        }

        problem = Problems.BadRequest($"Invalid {name}", $"'{name}' must be one integer.");
        return false;
    }

    /// <inheritdoc cref="TryGetInt64"/>
    public static bool TryGetInt32(HttpRequest request, string name, out int? value, out ProblemHttpResult problem)
    {
        value = null;
        if (!TryGetInt64(request, name, out var wide, out problem))
        {
            return false;
        }

        if (wide is { } n && n is < int.MinValue or > int.MaxValue)
        {
            problem = Problems.BadRequest($"Invalid {name}", $"'{name}' must be an integer between {int.MinValue} and {int.MaxValue}.");
            return false;
        }

        value = (int?)wide;
        return true;
    }

    /// <summary><c>pin=true</c>: never evicted under memory pressure.</summary>
    public static bool TryGetPin(HttpRequest request, out bool pinned, out ProblemHttpResult problem)
    {
        problem = null!;
        pinned = false;
        var values = request.Query["pin"];
        if (values.Count == 0 || (values.Count == 1 && bool.TryParse(values[0], out pinned)))
        {
            return true;
        }

        problem = Problems.BadRequest("Invalid pin", "'pin' must be 'true' or 'false'.");
        return false;
    }

    public static bool TryParseDuration(string? text, out long milliseconds)
    {
        milliseconds = 0;
        if (string.IsNullOrWhiteSpace(text))
        {
            return false;
        }

        var span = text.AsSpan().Trim();
        (long factor, int suffix) = span switch
        {
            _ when span.EndsWith("ms", StringComparison.Ordinal) => (1L, 2),
            _ when span.EndsWith("s", StringComparison.Ordinal) => (1000L, 1),
            _ when span.EndsWith("m", StringComparison.Ordinal) => (60_000L, 1),
            _ when span.EndsWith("h", StringComparison.Ordinal) => (3_600_000L, 1),
            _ when span.EndsWith("d", StringComparison.Ordinal) => (86_400_000L, 1),
            _ => (1000L, 0),
        };

        if (!long.TryParse(span[..^suffix], NumberStyles.None, CultureInfo.InvariantCulture, out var amount) || amount > long.MaxValue / factor)
        {
            return false;
        }

        milliseconds = amount * factor;
        return true;
    }
}
