using AspireCache.Console.Editing;
using AspireCache.Console.Options;
using AspireCache.Console.Sessions;

namespace AspireCache.Console.Tests.Unit;

/// <summary>The editing helpers the pages rely on.</summary>
public sealed class EditingTests
{
    [Fact]
    public void A_diff_pairs_a_changed_line_and_keeps_the_unchanged_ones()
    {
        var rows = TextDiff.SideBySide("a\nb\nc", "a\nB\nc\nd")!;

        Assert.Equal(
            [DiffKind.Same, DiffKind.Changed, DiffKind.Same, DiffKind.Added],
            rows.Select(r => r.Kind));
        Assert.Equal(("b", "B"), (rows[1].Left, rows[1].Right));
        Assert.Equal((2, 1), TextDiff.Summary(rows));
    }

    [Fact]
    public void Values_too_large_to_diff_are_not_diffed()
    {
        var big = string.Join('\n', Enumerable.Range(0, 3000));
        Assert.Null(TextDiff.SideBySide(big, big + "\nx"));
    }

    [Theory]
    [InlineData("90", 90_000)]
    [InlineData("90s", 90_000)]
    [InlineData("15m", 900_000)]
    [InlineData("2h", 7_200_000)]
    [InlineData("7d", 604_800_000)]
    [InlineData("500ms", 500)]
    [InlineData("1.5h", 5_400_000)]
    public void A_TTL_is_read_as_people_write_it(string text, long milliseconds) =>
        Assert.Equal(TimeSpan.FromMilliseconds(milliseconds), TtlChoice.Parse(text));

    [Theory]
    [InlineData("")]
    [InlineData("soon")]
    [InlineData("-5s")]
    [InlineData("0")]
    public void Anything_else_is_not_a_TTL(string text) => Assert.Null(TtlChoice.Parse(text));

    [Fact]
    public void Keeping_the_TTL_writes_the_time_left_until_the_shown_expiry()
    {
        var now = DateTimeOffset.UtcNow;
        Assert.Equal(TimeSpan.FromMinutes(5), TtlChoice.ForWrite(TtlMode.Keep, now.AddMinutes(5), null, now));
        Assert.Null(TtlChoice.ForWrite(TtlMode.Keep, null, null, now));
        Assert.Null(TtlChoice.ForWrite(TtlMode.Remove, now.AddMinutes(5), null, now));
        Assert.Equal(TimeSpan.FromHours(1), TtlChoice.ForWrite(TtlMode.Set, now.AddMinutes(5), TimeSpan.FromHours(1), now));
    }

    [Theory]
    [InlineData("", "cannot be empty")]
    [InlineData("a\tb", "control characters")]
    [InlineData("batch", "reserved")]
    public void Keys_the_nodes_would_refuse_are_explained(string key, string reason)
    {
        var hint = LimitHint.ForKey(key, new CacheLimits());
        Assert.True(hint.IsOver);
        Assert.Contains(reason, hint.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_key_over_the_byte_limit_counts_UTF8_bytes()
    {
        var hint = LimitHint.ForKey(new string('é', 257), new CacheLimits()); // 514 bytes
        Assert.True(hint.IsOver);
        Assert.Contains("514 of 512 bytes", hint.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void JSON_errors_name_their_line_and_column()
    {
        var check = JsonCheck.Validate("{\n  \"a\": 1,\n}");
        Assert.False(check.IsValid);
        Assert.Equal(3, check.Line);
        Assert.StartsWith("Not valid JSON at line 3, column 1", check.Describe(), StringComparison.Ordinal);
    }

    [Fact]
    public void Binary_values_open_in_hex_and_JSON_objects_in_JSON()
    {
        Assert.Equal(EditMode.Hex, EditorCheck.Open(new byte[] { 0xff, 0x00, 0x10 }).Mode);
        Assert.Equal((EditMode.Json, "{\"a\":1}"), EditorCheck.Open("{\"a\":1}"u8));
        Assert.Equal(EditMode.Text, EditorCheck.Open("30"u8).Mode);
    }

    [Theory]
    [InlineData("/keys", "/keys")]
    [InlineData("/key?key=a%2Fb", "/key?key=a%2Fb")]
    [InlineData("//evil.example/x", null)]
    [InlineData("/\\evil.example", null)]
    [InlineData("https://evil.example/", null)]
    [InlineData("keys", null)]
    public void Only_local_paths_are_followed_after_sign_in_or_out(string url, string? followed) =>
        Assert.Equal(followed, SessionEndpoints.LocalOnly(url));
}
