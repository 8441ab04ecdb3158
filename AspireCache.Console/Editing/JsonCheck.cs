using System.Text.Json;

namespace AspireCache.Console.Editing;

/// <summary>Whether text is valid JSON, and if not, where it breaks (1-based line and column).</summary>
public sealed record JsonCheck(bool IsValid, string? Error, long? Line, long? Column)
{
    public static readonly JsonCheck Valid = new(true, null, null, null);

    /// <summary>Strict JSON: no comments, no trailing commas, one value.</summary>
    public static JsonCheck Validate(string text)
    {
        try
        {
            using var _ = JsonDocument.Parse(text, new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Disallow, AllowTrailingCommas = false });
            return Valid;
        }
        catch (JsonException ex)
        {
            long? line = ex.LineNumber is { } l ? l + 1 : null;
            long? column = ex.BytePositionInLine is { } c ? c + 1 : null;
            // The parser's message repeats the position in its own words: keep the first sentence.
            var message = ex.Message.Split(" LineNumber:", 2)[0].Split(" Path:", 2)[0].Trim();
            return new JsonCheck(false, message, line, column);
        }
    }

    /// <summary>"Line 3, column 7: …" for the page.</summary>
    public string Describe() => IsValid
        ? "Valid JSON"
        : $"Not valid JSON{(Line is null ? "" : $" at line {Line}, column {Column}")}: {Error}";
}
