using System.Buffers;
using System.Buffers.Binary;
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
                garbage[0] = random.Next(2) == 0 ? CommandCodec.FormatVersion1 : CommandCodec.FormatVersion;
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
        byte[] v1 = [CommandCodec.FormatVersion1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 2, 0xC3, 0x28];
        byte[] v2 = WithChecksum([CommandCodec.FormatVersion, .. v1.AsSpan(1)]);

        Assert.Contains("UTF-8", Assert.Throws<CommandFormatException>(() => CommandCodec.Decode(v1)).Message);
        Assert.Contains("UTF-8", Assert.Throws<CommandFormatException>(() => CommandCodec.Decode(v2)).Message); // past the checksum: the parser refused it
    }

    [Fact]
    public void The_encoder_writes_version_2_which_is_the_version_1_bytes_with_version_2_and_a_CRC32C_appended()
    {
        var batch = new CommandBatch(1_700_000_000_123, [
            new SetCommand("a", "1"u8.ToArray()) { IdempotencyKey = "i", Writer = "w", TtlMs = 5, ExpectedVersion = 3 },
            new RemoveCommand([new("b", 2)], RemovalReason.Expired),
        ]);

        var v1 = CommandCodec.Encode(batch, CommandCodec.FormatVersion1);
        var v2 = CommandCodec.Encode(batch);

        Assert.Equal(2, CommandCodec.FormatVersion);
        Assert.Equal(CommandCodec.FormatVersion1, v1[0]);
        Assert.Equal(v1.Length + CommandCodec.ChecksumBytes, v2.Length);
        Assert.Equal(WithChecksum([CommandCodec.FormatVersion, .. v1.AsSpan(1)]), v2);
        Assert.Equal(CommandText.Describe(batch), CommandText.Describe(CommandCodec.Decode(v1)));
        Assert.Equal(CommandText.Describe(batch), CommandText.Describe(CommandCodec.Decode(v2)));
    }

    [Fact]
    public void Crc32C_is_the_Castagnoli_CRC_whole_or_in_pieces()
    {
        Assert.Equal(0xE3069283u, Crc32C.Hash("123456789"u8)); // the standard check value
        Assert.Equal(0u, Crc32C.Hash([]));
        Assert.Equal(0x8A9136AAu, Crc32C.Hash(new byte[32])); // RFC 3720 B.4: 32 bytes of zeros
        Assert.Equal(0x62A8AB43u, Crc32C.Hash(Enumerable.Repeat((byte)0xFF, 32).ToArray())); // RFC 3720 B.4: 32 bytes of ones

        var data = new byte[1000];
        new Random(7).NextBytes(data);
        for (var split = 0; split <= 17; split++)
        {
            Assert.Equal(Crc32C.Hash(data), Crc32C.Finish(Crc32C.Append(Crc32C.Append(Crc32C.Initial, data.AsSpan(0, split)), data.AsSpan(split))));
        }
    }

    [Fact]
    public void Encoding_into_a_writer_that_hands_out_tiny_buffers_gives_the_same_bytes()
    {
        var batch = new CommandBatch(42, [
            new SetCommand("ключ/значение", new byte[300]) { IdempotencyKey = "idem", Writer = "orders", TtlMs = 1, Pinned = true },
            new BatchCommand([new("a", "xyz"u8.ToArray())], ["b", "c"]) { Conditions = [new("d", 7)] },
            new DeleteCommand("e") { ExpectedVersion = ExpectedVersion.Any },
        ]);
        var stingy = new StingyWriter();

        CommandCodec.Encode(batch, stingy);

        Assert.Equal(CommandCodec.Encode(batch), stingy.Written.WrittenSpan.ToArray());
        Assert.True(stingy.Advances > 10);
    }

    [Fact]
    public void Every_single_bit_flip_of_a_version_2_entry_is_refused()
    {
        var bytes = CommandCodec.Encode(new CommandBatch(1_700_000_000_000, [
            new SetCommand("user/1", "alice"u8.ToArray()) { IdempotencyKey = "idem", Writer = "app", TtlMs = 30_000, ExpectedVersion = 4 },
            new DeleteCommand("user/2"),
            new BatchCommand([new("a", new byte[40])], ["b"]) { Conditions = [new("c", 1)] },
            new RemoveCommand([new("d", 9)], RemovalReason.Evicted),
        ]));

        for (var bit = 0; bit < bytes.Length * 8; bit++)
        {
            var corrupt = (byte[])bytes.Clone();
            corrupt[bit / 8] ^= (byte)(1 << (bit % 8));

            // Unreadable: the state machine stops applying rather than skip it (a replica must not diverge).
            Assert.True(Assert.Throws<CommandFormatException>(() => CommandCodec.Decode(corrupt)).Unreadable);
        }
    }

    /// <summary>
    /// A command this node does not know, with a valid checksum (a newer node wrote it, mid rolling upgrade): other
    /// replicas may apply it, so it is unreadable here (the node stops applying) rather than skipped (found by review,
    /// session 32: skipping it made this replica diverge from the upgraded ones).
    /// </summary>
    [Fact]
    public void A_command_of_an_unknown_kind_is_unreadable_not_skipped()
    {
        var bytes = CommandCodec.Encode(new CommandBatch(0, [new DeleteCommand("k")]));
        var refusals = new List<CommandFormatException>();
        for (var position = 1; position < bytes.Length - 4; position++)
        {
            var changed = (byte[])bytes.Clone();
            changed[position] = 0x0F; // tag 15: no command has it
            System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(changed.AsSpan(changed.Length - 4), Crc32C.Hash(changed.AsSpan(0, changed.Length - 4)));
            try
            {
                CommandCodec.Decode(changed);
            }
            catch (CommandFormatException ex)
            {
                if (ex.Message.StartsWith("Unknown command tag", StringComparison.Ordinal))
                {
                    refusals.Add(ex); // at the tag's byte (elsewhere the byte breaks something else)
                }
            }
        }

        Assert.NotEmpty(refusals); // the tag's byte was found
        Assert.All(refusals, ex => Assert.True(ex.Unreadable));
    }

    [Fact]
    public void A_version_2_entry_relabelled_as_version_1_is_refused()
    {
        var bytes = CommandCodec.Encode(new CommandBatch(0, [new DeleteCommand("k")]));
        bytes[0] = CommandCodec.FormatVersion1;

        Assert.Throws<CommandFormatException>(() => CommandCodec.Decode(bytes)); // the checksum is trailing bytes to v1
    }

    [Fact]
    public void Only_versions_1_and_2_can_be_written_and_a_removal_with_a_writer_cannot()
    {
        var batch = new CommandBatch(0, [new DeleteCommand("k")]);

        Assert.Throws<ArgumentOutOfRangeException>(() => CommandCodec.Encode(batch, 3));
        Assert.Throws<ArgumentOutOfRangeException>(() => CommandCodec.Encode(batch, 0));
        Assert.Throws<ArgumentException>(() => CommandCodec.Encode(new CommandBatch(0, [new RemoveCommand([new("k", 1)], RemovalReason.Expired) { Writer = "w" }])));
    }

    [Fact]
    public void The_idempotency_fingerprint_still_hashes_the_version_1_bytes_of_the_keyless_command()
    {
        CacheCommand[] commands =
        [
            new SetCommand("k", "v"u8.ToArray()) { IdempotencyKey = "i1", Writer = "w", ExpectedVersion = 3, TtlMs = 5, Pinned = true },
            new DeleteCommand("k") { IdempotencyKey = "i2" },
            new BatchCommand([new("a", "1"u8.ToArray())], ["b"]) { IdempotencyKey = "i3", Conditions = [new("a", 0)] },
        ];

        foreach (var command in commands)
        {
            var keyless = new ArrayBufferWriter<byte>();
            CommandCodec.EncodeKeyless(command, keyless);

            var v1 = CommandCodec.Encode(new CommandBatch(0, [command with { IdempotencyKey = null, Writer = null }]), CommandCodec.FormatVersion1);
            Assert.Equal(v1, keyless.WrittenSpan.ToArray());
            Assert.Equal(Fnv1a(v1), IdempotencyTable.Fingerprint(command));
        }

        // A value recorded before version 2 (the stored samples check more of them against a snapshot).
        Assert.Equal(7531161730756295714UL, IdempotencyTable.Fingerprint(new SetCommand("user/1", "alice"u8.ToArray()) { IdempotencyKey = "idem-create" }));
    }

    /// <summary><paramref name="body"/> followed by its CRC-32C, little-endian (the v2 trailer).</summary>
    internal static byte[] WithChecksum(byte[] body)
    {
        var result = new byte[body.Length + CommandCodec.ChecksumBytes];
        body.CopyTo(result, 0);
        BinaryPrimitives.WriteUInt32LittleEndian(result.AsSpan(body.Length), Crc32C.Hash(body));
        return result;
    }

    private static ulong Fnv1a(ReadOnlySpan<byte> bytes)
    {
        var hash = 14695981039346656037UL;
        foreach (var b in bytes)
        {
            hash = (hash ^ b) * 1099511628211UL;
        }

        return hash;
    }

    /// <summary>Hands out exactly the size asked for (one byte when asked for any), so a write is split into many buffers.</summary>
    private sealed class StingyWriter : IBufferWriter<byte>
    {
        private byte[] _buffer = [];

        public ArrayBufferWriter<byte> Written { get; } = new();

        public int Advances { get; private set; }

        public void Advance(int count)
        {
            Written.Write(_buffer.AsSpan(0, count));
            Advances++;
        }

        public Memory<byte> GetMemory(int sizeHint = 0) => _buffer = new byte[Math.Max(sizeHint, 1)];

        public Span<byte> GetSpan(int sizeHint = 0) => GetMemory(sizeHint).Span;
    }

    [Fact]
    public void Trailing_bytes_are_a_format_error()
    {
        var bytes = CommandCodec.Encode(new CommandBatch(0, [new DeleteCommand("k")]));

        Assert.Throws<CommandFormatException>(() => CommandCodec.Decode([.. bytes, 0]));
    }
}
