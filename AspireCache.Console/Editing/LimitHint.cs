using System.Text;
using AspireCache.Console.Options;
using AspireCache.Contracts;

namespace AspireCache.Console.Editing;

/// <summary>How close something is to a node's limit.</summary>
public enum LimitLevel
{
    Ok,
    Near,
    Over,
}

/// <summary>A limit explained before the server would refuse: what is used, of what, and what happens beyond it.</summary>
public sealed record LimitHint(LimitLevel Level, string Message)
{
    public bool IsOver => Level == LimitLevel.Over;

    /// <summary>A value of <paramref name="bytes"/> bytes against <see cref="CacheLimits.MaxValueBytes"/>.</summary>
    public static LimitHint ForValue(long bytes, CacheLimits limits)
    {
        var max = limits.MaxValueBytes;
        var used = $"{ValueFormat.Size(bytes)} of {ValueFormat.Size(max)} ({Percent(bytes, max)})";
        if (bytes > max)
        {
            return new(LimitLevel.Over, $"{used}: the nodes refuse values over {ValueFormat.Size(max)} (413 Too Large, Cache:Limits:MaxValueBytes = {max:N0} bytes). Shorten it, or split it across several keys.");
        }

        return bytes >= max * limits.WarnAt
            ? new(LimitLevel.Near, $"{used}: close to the nodes' limit of {ValueFormat.Size(max)} per value; a larger value will be refused.")
            : new(LimitLevel.Ok, used);
    }

    /// <summary>A key as the nodes check it: non-empty, at most <see cref="CacheLimits.MaxKeyBytes"/> UTF-8 bytes, no control characters, not a reserved name.</summary>
    public static LimitHint ForKey(string? key, CacheLimits limits)
    {
        if (string.IsNullOrEmpty(key))
        {
            return new(LimitLevel.Over, "A key cannot be empty.");
        }

        if (key.Any(char.IsControl))
        {
            return new(LimitLevel.Over, "A key cannot contain control characters (tabs, line breaks…).");
        }

        if (CachePaths.IsReservedKey(key))
        {
            return new(LimitLevel.Over, $"'{key}' is reserved: /cache/{key} is an endpoint, not a key.");
        }

        var bytes = Encoding.UTF8.GetByteCount(key);
        var max = limits.MaxKeyBytes;
        if (bytes > max)
        {
            return new(LimitLevel.Over, $"{bytes:N0} of {max:N0} bytes: the nodes refuse keys over {max:N0} UTF-8 bytes (400 invalid-key, Cache:Limits:MaxKeyBytes).");
        }

        return bytes >= max * limits.WarnAt
            ? new(LimitLevel.Near, $"{bytes:N0} of {max:N0} bytes: close to the nodes' key limit.")
            : new(LimitLevel.Ok, $"{bytes:N0} of {max:N0} bytes");
    }

    /// <summary>A TTL against <see cref="CacheLimits.MaxTtl"/>.</summary>
    public static LimitHint ForTtl(TimeSpan ttl, CacheLimits limits)
    {
        if (ttl <= TimeSpan.Zero)
        {
            return new(LimitLevel.Over, "A TTL must be positive (or choose no TTL).");
        }

        return ttl > limits.MaxTtl
            ? new(LimitLevel.Over, $"The nodes accept TTLs up to {ValueFormat.Duration(limits.MaxTtl)} (Cache:Limits:MaxTtl).")
            : new(LimitLevel.Ok, $"expires {ValueFormat.Duration(ttl)} after the write");
    }

    /// <summary>A batch of <paramref name="keys"/> keys whose request body is about <paramref name="bodyBytes"/> bytes.</summary>
    public static LimitHint ForBatch(int keys, long bodyBytes, CacheLimits limits)
    {
        var used = $"{keys:N0} of {limits.MaxBatchKeys:N0} keys, ~{ValueFormat.Size(bodyBytes)} of {ValueFormat.Size(limits.MaxBatchBytes)} request (values travel as base64)";
        if (keys > limits.MaxBatchKeys)
        {
            return new(LimitLevel.Over, $"{used}: the nodes refuse batches of more than {limits.MaxBatchKeys:N0} keys (413, Cache:Limits:MaxBatchKeys). Publish in several batches.");
        }

        if (bodyBytes > limits.MaxBatchBytes)
        {
            return new(LimitLevel.Over, $"{used}: the nodes refuse batch requests over {ValueFormat.Size(limits.MaxBatchBytes)} (413, Cache:Limits:MaxBatchBytes). Publish in several batches.");
        }

        return keys >= limits.MaxBatchKeys * limits.WarnAt || bodyBytes >= limits.MaxBatchBytes * limits.WarnAt
            ? new(LimitLevel.Near, $"{used}: close to the nodes' batch limits.")
            : new(LimitLevel.Ok, used);
    }

    private static string Percent(long used, long max) => $"{100.0 * used / max:0.#} %";
}
