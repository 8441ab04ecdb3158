using AspireCache.Console.Options;

namespace AspireCache.Console.Editing;

/// <summary>How the editor's text becomes the value's bytes.</summary>
public enum EditMode
{
    /// <summary>UTF-8 text as typed.</summary>
    Text,

    /// <summary>UTF-8 text that must be valid JSON before it can be saved.</summary>
    Json,

    /// <summary>Hex digits (whitespace ignored): for binary values.</summary>
    Hex,
}

/// <summary>
/// Everything the editor checks before a save, so that the server refuses nothing the console could
/// have caught: the bytes the text stands for, JSON validity (JSON mode), hex syntax (hex mode), the
/// value's size against the nodes' limit.
/// </summary>
public sealed record EditorCheck(byte[]? Bytes, string? Error, JsonCheck? Json, LimitHint? Size)
{
    /// <summary>Nothing stands in the way of a save.</summary>
    public bool CanSave => Bytes is not null && Error is null && Json?.IsValid != false && Size?.IsOver != true;

    /// <summary>Why the editor cannot save, if it cannot.</summary>
    public string? Blocker => Error ?? (Json is { IsValid: false } json ? json.Describe() : Size is { IsOver: true } size ? size.Message : null);

    public static EditorCheck Of(string? text, EditMode mode, CacheLimits limits)
    {
        text ??= "";
        if (mode == EditMode.Hex)
        {
            var bytes = ValueFormat.ParseHex(text, out var error);
            return bytes is null
                ? new EditorCheck(null, "Not hex: " + error, null, null)
                : new EditorCheck(bytes, null, null, LimitHint.ForValue(bytes.Length, limits));
        }

        var utf8 = ValueFormat.Utf8(text);
        var json = mode == EditMode.Json ? JsonCheck.Validate(text) : null;
        return new EditorCheck(utf8, null, json, LimitHint.ForValue(utf8.Length, limits));
    }

    /// <summary>The mode and text an existing value opens with: JSON for objects and arrays, text for UTF-8, hex otherwise.</summary>
    public static (EditMode Mode, string Text) Open(ReadOnlySpan<byte> value)
    {
        var text = ValueFormat.AsText(value);
        if (text is null)
        {
            return (EditMode.Hex, ValueFormat.ToHexLines(value));
        }

        return (ValueFormat.LooksLikeJson(text) && JsonCheck.Validate(text).IsValid ? EditMode.Json : EditMode.Text, text);
    }
}
