using System.Diagnostics.CodeAnalysis;
using System.Text;

namespace AspireCache.Node.Api;

/// <summary>Key rules: non-empty, at most <see cref="CacheLimitsOptions.MaxKeyBytes"/> UTF-8 bytes, no control characters, well-formed UTF-16.</summary>
public static class KeyValidator
{
    private static readonly UTF8Encoding StrictUtf8 = new(false, true);

    /// <summary>Top-level names that are endpoints (<c>/cache/hot</c>, <c>/cache/batch</c>, <c>/cache/watch</c>); they cannot be written.</summary>
    public static bool IsReserved(string key) => CachePaths.IsReservedKey(key);

    /// <returns>Whether <paramref name="key"/> is valid; otherwise <paramref name="reason"/> says why (see <see cref="Validate"/>).</returns>
    public static bool IsValid([NotNullWhen(true)] string? key, int maxKeyBytes, [NotNullWhen(false)] out string? reason)
    {
        reason = Validate(key, maxKeyBytes);
        return reason is null;
    }

    /// <returns><c>null</c> when the key is valid, otherwise the reason.</returns>
    public static string? Validate(string? key, int maxKeyBytes)
    {
        if (string.IsNullOrEmpty(key))
        {
            return "The key must not be empty.";
        }

        foreach (var c in key)
        {
            if (char.IsControl(c))
            {
                return "The key must not contain control characters.";
            }
        }

        int length;
        try
        {
            length = StrictUtf8.GetByteCount(key);
        }
        catch (EncoderFallbackException)
        {
            return "The key is not valid Unicode (lone surrogate).";
        }

        return length > maxKeyBytes ? $"The key is {length} UTF-8 bytes; the limit is {maxKeyBytes}." : null;
    }
}
