using System.Globalization;
using System.Text;
using AspireCache.Node.StateMachine;
using CsCheck;

namespace AspireCache.Tests.Unit;

/// <summary>
/// Property-based fuzzing (CsCheck) of the log entry codec, the format every replica decodes from
/// its WAL and from the leader: (a) any bytes decode or throw <see cref="CommandFormatException"/>,
/// nothing else, including bytes that pass the checksum (mutated entries sealed again) so that the
/// parser behind it is fuzzed too; (b) every batch of every command kind round-trips exactly, in
/// both versions, and re-encodes to the same bytes; (c) a corrupted version-2 entry is refused:
/// always for a flipped bit or a changed run of up to four bytes (CRC-32C catches every burst of up
/// to 32 bits), and otherwise (truncated, bytes inserted or deleted) it is refused or, against odds
/// of 2^-32, decodes to the very same batch: never to a different one. On a failure CsCheck prints
/// the shrunk input and the seed that reproduces it.
/// </summary>
public sealed class CommandCodecFuzzTests
{
    private const int Iterations = 3_000;

    // ---- generators -------------------------------------------------------------------------

    /// <summary>Any Unicode scalar: mostly printable ASCII, also control characters, the rest of the BMP and astral planes.</summary>
    private static readonly Gen<int> CodePoint = Gen.Frequency(
        (6, Gen.Int[0x20, 0x7E]),
        (2, Gen.Int[0x00, 0x1F]),
        (1, Gen.Int[0x7F, 0x9F]),
        (3, Gen.Int[0xA0, 0xD7FF]),
        (1, Gen.Int[0xE000, 0xFFFF]),
        (2, Gen.Int[0x10000, 0x10FFFF]));

    /// <summary>Well-formed UTF-16 (what the API lets through; the codec's UTF-8 is strict), empty included, sometimes long.</summary>
    internal static readonly Gen<string> Text = Gen.Frequency(
        (12, CodePoint.Array[0, 12]),
        (1, CodePoint.Array[100, 400])).Select(points => string.Concat(points.Select(char.ConvertFromUtf32)));

    private static readonly Gen<string?> OptionalText = Gen.Frequency(
        (1, Gen.Const((string?)null)),
        (1, Text.Select(text => (string?)text)));

    private static readonly Gen<byte[]> Value = Gen.Frequency(
        (8, Gen.Byte.Array[0, 40]),
        (1, Gen.Byte.Array[200, 3_000]));

    /// <summary>Any long, with the special values the API uses (absent 0, exists -1) and the extremes often.</summary>
    private static readonly Gen<long> Version = Gen.Frequency(
        (3, Gen.Long),
        (2, Gen.Long[-1, 100]),
        (1, Gen.OneOf(long.MinValue, long.MaxValue, ExpectedVersion.Absent, ExpectedVersion.Any)));

    private static readonly Gen<long?> Condition = Gen.Frequency(
        (1, Gen.Const((long?)null)),
        (1, Version.Select(v => (long?)v)));

    private static readonly Gen<long> Ttl = Gen.Frequency(
        (2, Gen.Const(0L)),
        (2, Gen.Long[1, 365L * 24 * 3_600_000]),
        (1, Gen.Long));

    private static readonly Gen<CacheCommand> Set = Gen.Select(Text, Value, Condition, Ttl, Gen.Bool, OptionalText, OptionalText, (key, value, expected, ttl, pinned, idempotencyKey, writer) =>
        (CacheCommand)new SetCommand(key, value) { ExpectedVersion = expected, TtlMs = ttl, Pinned = pinned, IdempotencyKey = idempotencyKey, Writer = writer });

    private static readonly Gen<CacheCommand> Delete = Gen.Select(Text, Condition, OptionalText, OptionalText, (key, expected, idempotencyKey, writer) =>
        (CacheCommand)new DeleteCommand(key) { ExpectedVersion = expected, IdempotencyKey = idempotencyKey, Writer = writer });

    private static readonly Gen<CacheCommand> Batch = Gen.Select(
        Gen.Select(Text, Value, (key, value) => new KeyValuePair<string, ReadOnlyMemory<byte>>(key, value)).List[0, 6],
        Text.List[0, 6],
        Gen.Select(Text, Version, (key, version) => new KeyValuePair<string, long>(key, version)).List[0, 4],
        OptionalText,
        OptionalText,
        (sets, deletes, conditions, idempotencyKey, writer) =>
            (CacheCommand)new BatchCommand(sets, deletes) { Conditions = conditions, IdempotencyKey = idempotencyKey, Writer = writer });

    /// <summary>Leader-decided: never a writer (the codec refuses one).</summary>
    private static readonly Gen<CacheCommand> Remove = Gen.Select(
        Gen.Select(Text, Gen.Long, (key, version) => new KeyValuePair<string, long>(key, version)).List[0, 6],
        Gen.OneOf(RemovalReason.Expired, RemovalReason.Evicted),
        OptionalText,
        (keys, reason, idempotencyKey) => (CacheCommand)new RemoveCommand(keys, reason) { IdempotencyKey = idempotencyKey });

    internal static readonly Gen<CommandBatch> Batches = Gen.Select(
        Gen.Frequency((1, Gen.Long), (3, Gen.Long[0, 4_102_444_800_000])),
        Gen.OneOf(Set, Delete, Batch, Remove).Array[0, 6],
        (timestamp, commands) => new CommandBatch(timestamp, commands));

    /// <summary>A valid v2 entry (and the batch it holds).</summary>
    private static readonly Gen<(CommandBatch Batch, byte[] Bytes)> Entries = Batches.Select(batch => (batch, CommandCodec.Encode(batch)));

    // ---- (a) anything decodes or is refused as a format error -----------------------------------

    [Fact]
    public void Random_bytes_decode_or_throw_only_a_format_error()
    {
        // Raw garbage; garbage behind a version byte; and garbage behind version 2 with a valid
        // checksum, so the parser itself sees it.
        var inputs = Gen.Frequency(
            (1, Gen.Byte.Array[0, 64]),
            (1, Gen.Select(Gen.OneOf<byte>(1, 2), Gen.Byte.Array[0, 120], (version, rest) => (byte[])[version, .. rest])),
            (3, Gen.Byte.Array[0, 120].Select(rest => CommandCodecTests.WithChecksum([CommandCodec.FormatVersion, .. rest]))),
            (2, Gen.Select(Gen.Long, Gen.Byte[0, 4], Gen.Byte.Array[0, 120], (timestamp, count, rest) => Sealed(timestamp, count, rest))));

        inputs.Sample(bytes => DecodesOrRefuses(bytes), iter: Iterations, print: Hex);
    }

    [Fact]
    public void Valid_entries_with_mutated_bytes_sealed_by_a_new_checksum_decode_or_throw_only_a_format_error()
    {
        // Past the checksum: the command parser on entries that are nearly valid (the likeliest
        // inputs to reach a bug in it: a length, a count, a flag or a tag off by a little).
        var inputs = Gen.Select(Entries, Gen.Int[0, int.MaxValue], Gen.Byte.Array[1, 4], Gen.Int[0, 2], (entry, at, bytes, how) =>
        {
            var body = entry.Bytes[..^CommandCodec.ChecksumBytes].ToList();
            var position = 1 + (at % Math.Max(1, body.Count - 1)); // keep version 2
            switch (how)
            {
                case 0:
                    for (var i = 0; i < bytes.Length && position + i < body.Count; i++)
                    {
                        body[position + i] = bytes[i];
                    }

                    break;
                case 1:
                    body.InsertRange(Math.Min(position, body.Count), bytes);
                    break;
                default:
                    body.RemoveRange(Math.Min(position, body.Count), Math.Min(bytes.Length, body.Count - Math.Min(position, body.Count)));
                    break;
            }

            return CommandCodecTests.WithChecksum([.. body]);
        });

        inputs.Sample(bytes => DecodesOrRefuses(bytes), iter: Iterations, print: Hex);
    }

    // ---- (b) round trip ---------------------------------------------------------------------------

    [Fact]
    public void Every_batch_of_every_command_kind_round_trips_exactly_and_re_encodes_to_the_same_bytes()
    {
        Batches.Sample(batch =>
        {
            foreach (var version in new[] { CommandCodec.FormatVersion, CommandCodec.FormatVersion1 })
            {
                var bytes = CommandCodec.Encode(batch, version);
                var decoded = CommandCodec.Decode(bytes);

                Assert.Equal(version, bytes[0]);
                Assert.Equal(CommandText.Describe(batch), CommandText.Describe(decoded));
                Assert.Equal(bytes, CommandCodec.Encode(decoded, version));
            }
        }, iter: Iterations, print: CommandText.Describe);
    }

    // ---- (c) corruption is refused ------------------------------------------------------------------

    [Fact]
    public void A_flipped_bit_anywhere_in_a_version_2_entry_is_refused()
    {
        Gen.Select(Entries, Gen.Int[0, int.MaxValue]).Sample((entry, at) =>
        {
            var corrupt = (byte[])entry.Bytes.Clone();
            var bit = at % (corrupt.Length * 8);
            corrupt[bit / 8] ^= (byte)(1 << (bit % 8));

            Assert.Throws<CommandFormatException>(() => CommandCodec.Decode(corrupt));
        }, iter: Iterations, print: t => $"bit {t.Item2 % (t.Item1.Bytes.Length * 8)} of {Hex(t.Item1.Bytes)}");
    }

    [Fact]
    public void A_changed_run_of_up_to_four_bytes_of_a_version_2_entry_is_refused()
    {
        // Any error confined to 32 consecutive bits is a burst CRC-32C always detects.
        Gen.Select(Entries, Gen.Int[0, int.MaxValue], Gen.Byte.Array[1, 4]).Sample((entry, at, replacement) =>
        {
            var corrupt = (byte[])entry.Bytes.Clone();
            var position = at % corrupt.Length;
            for (var i = 0; i < replacement.Length && position + i < corrupt.Length; i++)
            {
                corrupt[position + i] = replacement[i];
            }

            if (!corrupt.AsSpan().SequenceEqual(entry.Bytes))
            {
                Assert.Throws<CommandFormatException>(() => CommandCodec.Decode(corrupt));
            }
        }, iter: Iterations);
    }

    [Fact]
    public void A_truncated_extended_or_shifted_version_2_entry_is_refused_and_never_decodes_to_another_batch()
    {
        var mutations = Gen.Select(Entries, Gen.Int[0, 3], Gen.Int[0, int.MaxValue], Gen.Byte.Array[1, 16], (entry, how, at, bytes) =>
        {
            var mutated = entry.Bytes.ToList();
            var position = at % (mutated.Count + 1);
            switch (how)
            {
                case 0: // torn write: a prefix
                    mutated.RemoveRange(at % mutated.Count, mutated.Count - (at % mutated.Count));
                    break;
                case 1: // bytes inserted
                    mutated.InsertRange(position, bytes);
                    break;
                case 2: // bytes lost
                    mutated.RemoveRange(Math.Min(position, mutated.Count - 1), Math.Min(bytes.Length, mutated.Count - Math.Min(position, mutated.Count - 1)));
                    break;
                default: // garbage appended
                    mutated.AddRange(bytes);
                    break;
            }

            return (entry.Batch, Mutated: mutated.ToArray());
        });

        mutations.Sample(m =>
        {
            CommandBatch decoded;
            try
            {
                decoded = CommandCodec.Decode(m.Mutated);
            }
            catch (CommandFormatException)
            {
                return;
            }

            Assert.Equal(CommandText.Describe(m.Batch), CommandText.Describe(decoded));
        }, iter: Iterations, print: m => Hex(m.Mutated));
    }

    // ---- helpers ----------------------------------------------------------------------------------------

    /// <summary>A v2 entry with a plausible header and a valid checksum around arbitrary command bytes.</summary>
    private static byte[] Sealed(long timestamp, byte count, byte[] commands)
    {
        var body = new byte[10 + commands.Length];
        body[0] = CommandCodec.FormatVersion;
        BitConverter.TryWriteBytes(body.AsSpan(1), timestamp);
        body[9] = count;
        commands.CopyTo(body, 10);
        return CommandCodecTests.WithChecksum(body);
    }

    /// <summary>Decodes, or is refused with a <see cref="CommandFormatException"/>; what decodes re-encodes to an equal batch.</summary>
    private static void DecodesOrRefuses(byte[] bytes)
    {
        CommandBatch decoded;
        try
        {
            decoded = CommandCodec.Decode(bytes);
        }
        catch (CommandFormatException)
        {
            return;
        }

        // Whatever a replica accepts can be written again and means the same (not necessarily the
        // same bytes: a varint may be written longer than needed, an option flag may carry defaults).
        Assert.Equal(CommandText.Describe(decoded), CommandText.Describe(CommandCodec.Decode(CommandCodec.Encode(decoded))));
    }

    private static string Hex(byte[] bytes) => Convert.ToHexString(bytes);
}

/// <summary>A structural, unambiguous text of commands (records compare their lists by reference; this compares contents).</summary>
internal static class CommandText
{
    public static string Describe(CommandBatch batch) =>
        $"t={batch.TimestampUnixMs.ToString(CultureInfo.InvariantCulture)} [{string.Join(" | ", batch.Commands.Select(Describe))}]";

    public static string Describe(CacheCommand command)
    {
        var common = $"idem={Quote(command.IdempotencyKey)} writer={Quote(command.Writer)}";
        return command switch
        {
            SetCommand s => $"set {Quote(s.Key)}={Convert.ToHexString(s.Value.Span)} expected={Number(s.ExpectedVersion)} ttl={Number(s.TtlMs)} pinned={s.Pinned} {common}",
            DeleteCommand d => $"delete {Quote(d.Key)} expected={Number(d.ExpectedVersion)} {common}",
            BatchCommand b => new StringBuilder("batch sets=")
                .AppendJoin(',', b.Sets.Select(kv => $"{Quote(kv.Key)}={Convert.ToHexString(kv.Value.Span)}"))
                .Append(" deletes=").AppendJoin(',', b.Deletes.Select(Quote))
                .Append(" if=").AppendJoin(',', b.Conditions.Select(kv => $"{Quote(kv.Key)}={Number(kv.Value)}"))
                .Append(' ').Append(common).ToString(),
            RemoveCommand r => $"remove {r.Reason} {string.Join(',', r.Keys.Select(kv => $"{Quote(kv.Key)}@{Number(kv.Value)}"))} {common}",
            _ => throw new ArgumentOutOfRangeException(nameof(command)),
        };
    }

    private static string Number(long? value) => value?.ToString(CultureInfo.InvariantCulture) ?? "-";

    private static string Quote(string? text) => text is null
        ? "null"
        : "\"" + string.Concat(text.Select(c => c is >= ' ' and <= '~' and not '"' and not '\\' ? c.ToString() : $"\\u{(int)c:x4}")) + "\"";
}
