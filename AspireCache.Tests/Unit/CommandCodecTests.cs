using System.Text;
using AspireCache.Node.StateMachine;

namespace AspireCache.Tests.Unit;

public sealed class CommandCodecTests
{
    [Fact]
    public void Set_delete_and_batch_round_trip()
    {
        var original = new CommandBatch(1_700_000_000_123, [
            new SetCommand("app/config", Encoding.UTF8.GetBytes("value")),
            new DeleteCommand("old"),
            new BatchCommand([new("a", new byte[] { 1, 2, 3 }), new("b", Array.Empty<byte>())], ["c", "d"]),
        ]);

        var decoded = CommandCodec.Decode(CommandCodec.Encode(original));

        Assert.Equal(original.TimestampUnixMs, decoded.TimestampUnixMs);
        Assert.Equal(3, decoded.Commands.Count);
        var set = Assert.IsType<SetCommand>(decoded.Commands[0]);
        Assert.Equal("app/config", set.Key);
        Assert.Equal("value"u8.ToArray(), set.Value.ToArray());
        Assert.Equal("old", Assert.IsType<DeleteCommand>(decoded.Commands[1]).Key);
        var batch = Assert.IsType<BatchCommand>(decoded.Commands[2]);
        Assert.Equal(["a", "b"], batch.Sets.Select(s => s.Key));
        Assert.Equal(new byte[] { 1, 2, 3 }, batch.Sets[0].Value.ToArray());
        Assert.Empty(batch.Sets[1].Value.ToArray());
        Assert.Equal(["c", "d"], batch.Deletes);
    }

    [Fact]
    public void Empty_value_round_trips_as_empty()
    {
        var decoded = CommandCodec.Decode(CommandCodec.Encode(new CommandBatch(0, [new SetCommand("k", ReadOnlyMemory<byte>.Empty)])));

        Assert.Empty(Assert.IsType<SetCommand>(decoded.Commands[0]).Value.ToArray());
    }

    [Theory]
    [InlineData("ключ/значение")]
    [InlineData("配置/功能开关")]
    [InlineData("emoji-🚀-key")]
    [InlineData("with space and ?query=&#")]
    public void Unicode_keys_round_trip(string key)
    {
        var decoded = CommandCodec.Decode(CommandCodec.Encode(new CommandBatch(0, [new DeleteCommand(key)])));

        Assert.Equal(key, Assert.IsType<DeleteCommand>(decoded.Commands[0]).Key);
    }

    [Fact]
    public void Maximum_sizes_round_trip()
    {
        var key = new string('k', 512);
        var value = new byte[1024 * 1024];
        Random.Shared.NextBytes(value);

        var decoded = CommandCodec.Decode(CommandCodec.Encode(new CommandBatch(0, [new SetCommand(key, value)])));

        var set = Assert.IsType<SetCommand>(decoded.Commands[0]);
        Assert.Equal(key, set.Key);
        Assert.True(value.AsSpan().SequenceEqual(set.Value.Span));
    }

    [Fact]
    public void Unknown_format_version_is_a_format_error()
    {
        var bytes = CommandCodec.Encode(new CommandBatch(0, [new DeleteCommand("k")]));
        bytes[0] = 99;

        Assert.Throws<CommandFormatException>(() => CommandCodec.Decode(bytes));
    }

    [Fact]
    public void Every_truncation_is_a_format_error()
    {
        var bytes = CommandCodec.Encode(new CommandBatch(5, [
            new SetCommand("key", new byte[] { 1, 2, 3, 4 }),
            new BatchCommand([new("x", new byte[] { 9 })], ["y"]),
        ]));

        for (var length = 0; length < bytes.Length; length++)
        {
            Assert.Throws<CommandFormatException>(() => CommandCodec.Decode(bytes.AsSpan(0, length)));
        }
    }

    [Fact]
    public void Random_garbage_never_throws_anything_but_a_format_error()
    {
        var random = new Random(42);
        for (var i = 0; i < 5000; i++)
        {
            var garbage = new byte[random.Next(0, 64)];
            random.NextBytes(garbage);
            if (garbage.Length > 0 && random.Next(2) == 0)
            {
                garbage[0] = CommandCodec.FormatVersion;
            }

            try
            {
                CommandCodec.Decode(garbage);
            }
            catch (CommandFormatException)
            {
            }
        }
    }

    [Fact]
    public void Invalid_utf8_key_is_a_format_error()
    {
        byte[] bytes = [CommandCodec.FormatVersion, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 2, 0xC3, 0x28];

        Assert.Throws<CommandFormatException>(() => CommandCodec.Decode(bytes));
    }

    [Fact]
    public void Trailing_bytes_are_a_format_error()
    {
        var bytes = CommandCodec.Encode(new CommandBatch(0, [new DeleteCommand("k")]));

        Assert.Throws<CommandFormatException>(() => CommandCodec.Decode([.. bytes, 0]));
    }
}
