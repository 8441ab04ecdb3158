using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace AspireCache.Console.Editing;

/// <summary>The three ways a value is shown: text, formatted JSON, hex.</summary>
public enum ValueView
{
    Text,
    Json,
    Hex,
}

/// <summary>Turning a value's bytes into something to read, and back.</summary>
public static class ValueFormat
{
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    private static readonly JsonWriterOptions Indented = new() { Indented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>The value as UTF-8 text, or null when it is not valid UTF-8 (binary: hex only).</summary>
    public static string? AsText(ReadOnlySpan<byte> value)
    {
        try
        {
            return StrictUtf8.GetString(value);
        }
        catch (DecoderFallbackException)
        {
            return null;
        }
    }

    /// <summary>The UTF-8 bytes of <paramref name="text"/>.</summary>
    public static byte[] Utf8(string text) => Encoding.UTF8.GetBytes(text);

    /// <summary>Text that starts like a JSON object or array (a bare number or string is left as text).</summary>
    public static bool LooksLikeJson(string? text)
    {
        var trimmed = text.AsSpan().TrimStart();
        return trimmed.Length > 0 && trimmed[0] is '{' or '[';
    }

    /// <summary>The best first view of a value: JSON for objects and arrays that parse, text for UTF-8, hex otherwise.</summary>
    public static ValueView DefaultView(ReadOnlySpan<byte> value)
    {
        var text = AsText(value);
        return text is null ? ValueView.Hex : LooksLikeJson(text) && JsonCheck.Validate(text).IsValid ? ValueView.Json : ValueView.Text;
    }

    /// <summary>Indented JSON, or null if <paramref name="text"/> is not JSON.</summary>
    public static string? FormatJson(string text)
    {
        try
        {
            using var document = JsonDocument.Parse(text);
            using var buffer = new MemoryStream();
            using (var writer = new Utf8JsonWriter(buffer, Indented))
            {
                document.WriteTo(writer);
            }

            return Encoding.UTF8.GetString(buffer.ToArray());
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>A hex dump: offset, 16 bytes, their printable ASCII; at most <paramref name="maxBytes"/> bytes.</summary>
    public static string HexDump(ReadOnlySpan<byte> value, int maxBytes = 64 * 1024)
    {
        var shown = value[..Math.Min(value.Length, maxBytes)];
        var text = new StringBuilder(shown.Length * 4);
        for (var offset = 0; offset < shown.Length; offset += 16)
        {
            var line = shown.Slice(offset, Math.Min(16, shown.Length - offset));
            text.Append(offset.ToString("x8", System.Globalization.CultureInfo.InvariantCulture)).Append("  ");
            for (var i = 0; i < 16; i++)
            {
                text.Append(i < line.Length ? line[i].ToString("x2", System.Globalization.CultureInfo.InvariantCulture) : "  ").Append(i == 7 ? "  " : " ");
            }

            text.Append(' ');
            foreach (var b in line)
            {
                text.Append(b is >= 0x20 and < 0x7f ? (char)b : '.');
            }

            text.Append('\n');
        }

        if (value.Length > shown.Length)
        {
            text.Append($"… {value.Length - shown.Length:N0} more bytes\n");
        }

        return text.ToString();
    }

    /// <summary>Hex digits (whitespace ignored) as bytes; null with a reason when they are not.</summary>
    public static byte[]? ParseHex(string text, out string? error)
    {
        var digits = new StringBuilder(text.Length);
        foreach (var c in text)
        {
            if (char.IsWhiteSpace(c))
            {
                continue;
            }

            if (!char.IsAsciiHexDigit(c))
            {
                error = $"'{c}' is not a hex digit.";
                return null;
            }

            digits.Append(c);
        }

        if (digits.Length % 2 != 0)
        {
            error = "An odd number of hex digits: every byte is two.";
            return null;
        }

        error = null;
        return Convert.FromHexString(digits.ToString());
    }

    /// <summary>Bytes as editable hex: 32 bytes per line, bytes separated by spaces.</summary>
    public static string ToHexLines(ReadOnlySpan<byte> value)
    {
        var text = new StringBuilder(value.Length * 3);
        for (var i = 0; i < value.Length; i++)
        {
            text.Append(value[i].ToString("x2", System.Globalization.CultureInfo.InvariantCulture));
            text.Append(i % 32 == 31 ? '\n' : ' ');
        }

        return text.ToString().TrimEnd();
    }

    /// <summary>A one-line preview: text cut at <paramref name="max"/> characters, or hex for binary values.</summary>
    public static string Preview(ReadOnlySpan<byte> value, int max = 120)
    {
        if (AsText(value) is { } text)
        {
            var line = text.ReplaceLineEndings(" ");
            return line.Length <= max ? line : line[..max] + "…";
        }

        var hex = Convert.ToHexStringLower(value[..Math.Min(value.Length, max / 2)]);
        return "0x" + hex + (value.Length > max / 2 ? "…" : "");
    }

    /// <summary>A size for people: 512 B, 1.5 KiB, 1 MiB.</summary>
    public static string Size(long bytes) => bytes switch
    {
        < 1024 => $"{bytes:N0} B",
        < 1024 * 1024 => $"{bytes / 1024.0:0.#} KiB",
        _ => $"{bytes / (1024.0 * 1024):0.##} MiB",
    };

    /// <summary>A duration for people: 45 s, 12 min 5 s, 3 h 2 min, 4 d 1 h.</summary>
    public static string Duration(TimeSpan span) => span switch
    {
        { TotalSeconds: < 1 } => $"{Math.Max(0, span.TotalMilliseconds):0} ms",
        { TotalMinutes: < 1 } => $"{span.TotalSeconds:0} s",
        { TotalHours: < 1 } => $"{(int)span.TotalMinutes} min" + (span.Seconds == 0 ? "" : $" {span.Seconds} s"),
        { TotalDays: < 1 } => $"{(int)span.TotalHours} h" + (span.Minutes == 0 ? "" : $" {span.Minutes} min"),
        _ => $"{(int)span.TotalDays} d" + (span.Hours == 0 ? "" : $" {span.Hours} h"),
    };
}
