using AspireCache.Node.Api;

namespace AspireCache.Tests.Unit;

public sealed class RequestValidationTests
{
    private static readonly CacheLimitsOptions Limits = new() { MaxValueBytes = 8, MaxBatchKeys = 3 };

    [Theory]
    [InlineData("a")]
    [InlineData("app/config/feature-x")]
    [InlineData("ключ")]
    [InlineData("emoji-🚀")]
    public void Valid_keys_pass(string key) => Assert.Null(KeyValidator.Validate(key, 512));

    [Theory]
    [InlineData("")]
    [InlineData("tab\there")]
    [InlineData("nul\0")]
    [InlineData("newline\n")]
    public void Invalid_keys_are_rejected(string key) => Assert.NotNull(KeyValidator.Validate(key, 512));

    [Fact]
    public void Key_with_a_lone_surrogate_is_rejected()
    {
        // Built at run time: attribute metadata cannot carry a lone surrogate.
        var key = new string([(char)0xD800, 'x']);

        Assert.NotNull(KeyValidator.Validate(key, 512));
    }

    [Fact]
    public void Key_limit_counts_utf8_bytes_not_characters()
    {
        var key = new string('я', 257); // 514 UTF-8 bytes

        Assert.NotNull(KeyValidator.Validate(key, 512));
        Assert.Null(KeyValidator.Validate(key[..256], 512));
    }

    [Fact]
    public void Batch_with_too_many_keys_is_413()
    {
        var parsed = BatchParser.Parse(new BatchRequest { Set = new() { ["a"] = "", ["b"] = "" }, Delete = ["c", "d"] }, Limits);

        Assert.Equal(413, parsed.Problem?.StatusCode);
    }

    [Fact]
    public void Batch_with_an_oversized_value_is_413()
    {
        var parsed = BatchParser.Parse(new BatchRequest { Set = new() { ["a"] = Convert.ToBase64String(new byte[9]) } }, Limits);

        Assert.Equal(413, parsed.Problem?.StatusCode);
    }

    [Theory]
    [InlineData("not base64!")]
    public void Batch_with_invalid_base64_is_400(string value)
    {
        var parsed = BatchParser.Parse(new BatchRequest { Set = new() { ["a"] = value } }, Limits);

        Assert.Equal(400, parsed.Problem?.StatusCode);
    }

    [Fact]
    public void Batch_that_sets_and_deletes_the_same_key_is_400()
    {
        var parsed = BatchParser.Parse(new BatchRequest { Set = new() { ["a"] = "" }, Delete = ["a"] }, Limits);

        Assert.Equal(400, parsed.Problem?.StatusCode);
    }

    [Fact]
    public void Empty_batch_is_400()
    {
        Assert.Equal(400, BatchParser.Parse(new BatchRequest(), Limits).Problem?.StatusCode);
        Assert.Equal(400, BatchParser.Parse(null, Limits).Problem?.StatusCode);
    }

    [Fact]
    public void Valid_batch_becomes_one_command()
    {
        var parsed = BatchParser.Parse(new BatchRequest { Set = new() { ["a"] = "AQI=" }, Delete = ["b"] }, Limits);

        Assert.Null(parsed.Problem);
        Assert.Equal(new byte[] { 1, 2 }, parsed.Command!.Sets[0].Value.ToArray());
        Assert.Equal(["b"], parsed.Command.Deletes);
    }
}
