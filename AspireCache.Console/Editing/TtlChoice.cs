using System.Globalization;

namespace AspireCache.Console.Editing;

/// <summary>What a save does to the key's TTL.</summary>
public enum TtlMode
{
    /// <summary>Keep the key's expiry time as it is (no TTL stays no TTL).</summary>
    Keep,

    /// <summary>A new TTL, counted from the write.</summary>
    Set,

    /// <summary>No TTL: the key no longer expires.</summary>
    Remove,
}

/// <summary>The TTL a write carries, from the operator's choice and the key as it was read.</summary>
public static class TtlChoice
{
    /// <summary>
    /// The <c>?ttl=</c> of the write: <see cref="TtlMode.Keep"/> writes the time left until the shown
    /// expiry (a PUT without <c>ttl</c> would remove it), <see cref="TtlMode.Set"/> the operator's TTL,
    /// <see cref="TtlMode.Remove"/> none.
    /// </summary>
    public static TimeSpan? ForWrite(TtlMode mode, DateTimeOffset? currentExpiry, TimeSpan? newTtl, DateTimeOffset now) => mode switch
    {
        TtlMode.Keep when currentExpiry is { } expiry => expiry - now > TimeSpan.FromMilliseconds(1) ? expiry - now : TimeSpan.FromMilliseconds(1),
        TtlMode.Set => newTtl,
        _ => null,
    };

    /// <summary>Parses "90", "90s", "15m", "2h", "7d", "500ms" (a bare number is seconds); null if it is not a duration.</summary>
    public static TimeSpan? Parse(string? text)
    {
        var span = text.AsSpan().Trim();
        if (span.Length == 0)
        {
            return null;
        }

        (double factor, int suffix) = span switch
        {
            _ when span.EndsWith("ms", StringComparison.OrdinalIgnoreCase) => (1.0, 2),
            _ when span.EndsWith("s", StringComparison.OrdinalIgnoreCase) => (1000.0, 1),
            _ when span.EndsWith("m", StringComparison.OrdinalIgnoreCase) => (60_000.0, 1),
            _ when span.EndsWith("h", StringComparison.OrdinalIgnoreCase) => (3_600_000.0, 1),
            _ when span.EndsWith("d", StringComparison.OrdinalIgnoreCase) => (86_400_000.0, 1),
            _ => (1000.0, 0),
        };

        return double.TryParse(span[..^suffix].Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out var amount) && amount > 0 && double.IsFinite(amount)
            ? TimeSpan.FromMilliseconds(Math.Round(amount * factor))
            : null;
    }
}
