using System.Buffers.Binary;
using System.Text;
using AspireCache.Node.StateMachine;
using Microsoft.Extensions.Logging.Abstractions;

namespace AspireCache.Tests.Unit;

/// <summary>
/// Files written by the version before issue #15's split (<c>Samples/</c>, generated with that code):
/// a version-3 snapshot and five log entries (format 1); and the same five entries in format 2 (the
/// checksummed envelope, generated from the v1 file by an independent implementation of the layout:
/// version byte 2, then a CRC-32C of the entry appended). What they hold is asserted exactly, so a
/// change of either format that loses old data fails here.
/// </summary>
public sealed class SampleCompatibilityTests
{
    private const long T0 = 1_700_000_000_000;

    private static string SamplePath(string name) => Path.Combine(AppContext.BaseDirectory, "Samples", name);

    private const string V1Entries = "wal-entries-v1.bin";
    private const string V2Entries = "wal-entries-v2.bin";

    /// <summary>The five entries of a sample file (each i32le length + payload), as stored.</summary>
    private static List<byte[]> ReadSamplePayloads(string name = V1Entries)
    {
        var bytes = File.ReadAllBytes(SamplePath(name));
        var entries = new List<byte[]>();
        for (var offset = 0; offset < bytes.Length;)
        {
            var length = BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(offset));
            entries.Add(bytes.AsSpan(offset + 4, length).ToArray());
            offset += 4 + length;
        }

        return entries;
    }

    /// <summary>The five entries of a sample file, decoded.</summary>
    private static List<CommandBatch> ReadSampleEntries(string name = V1Entries) =>
        ReadSamplePayloads(name).Select(payload => CommandCodec.Decode(payload)).ToList();

    /// <summary>The entries as they were generated (the sample must decode to exactly these, and re-encode to its bytes).</summary>
    private static CommandBatch[] ExpectedEntries() =>
    [
        new(T0, [
            new SetCommand("user/1", "alice"u8.ToArray()) { IdempotencyKey = "idem-create" },
            new SetCommand("user/2", "bob"u8.ToArray()),
            new SetCommand("ключ/значение", new byte[] { 0, 1, 2, 255 }) { TtlMs = 3_600_000, Pinned = true },
            new SetCommand("session/x", "ttl"u8.ToArray()) { TtlMs = 30_000 },
        ]),
        new(T0 + 1_000, [
            new SetCommand("user/1", "alice-2"u8.ToArray()) { ExpectedVersion = 1, IdempotencyKey = "idem-update" },
            new DeleteCommand("user/2") { ExpectedVersion = ExpectedVersion.Any },
            new DeleteCommand("missing") { IdempotencyKey = "idem-notfound" },
            new SetCommand("pinned/config", Array.Empty<byte>()) { Pinned = true, ExpectedVersion = ExpectedVersion.Absent },
        ]),
        new(T0 + 2_000, [
            new BatchCommand([new("batch/a", "A"u8.ToArray()), new("batch/b", new byte[300])], ["session/x"]) { Conditions = [new("user/1", 5)], IdempotencyKey = "idem-batch" },
            new BatchCommand([new("batch/c", "C"u8.ToArray())], []) { Conditions = [new("user/1", 999)], IdempotencyKey = "idem-batch-failed" },
            new SetCommand("user/3", "carol"u8.ToArray()) { ExpectedVersion = 42, IdempotencyKey = "idem-precondition" },
        ]),
        new(T0 + 3_000, [
            new SetCommand("evict/me", "x"u8.ToArray()),
            new SetCommand("expire/me", "y"u8.ToArray()) { TtlMs = 1 },
        ]),
        new(T0 + 4_000, [
            new RemoveCommand([new("evict/me", 9)], RemovalReason.Evicted),
            new RemoveCommand([new("expire/me", 10), new("user/1", 1)], RemovalReason.Expired),
            new SetCommand("user/1", "alice-3"u8.ToArray()) { ExpectedVersion = ExpectedVersion.Any, TtlMs = 86_400_000 },
        ]),
    ];

    /// <summary>The state both samples describe (recorded when they were generated).</summary>
    private static void AssertSampleState(CacheState state, bool failedKeyKept)
    {
        Assert.Equal(13, state.Revision);
        Assert.Equal(1044, state.SizeBytes); // 5 entries × 128 B overhead + keys and values (884 when the overhead was 96 B)
        Assert.Equal(
            ["batch/a", "batch/b", "pinned/config", "user/1", "ключ/значение"],
            state.Current.Entries.Keys.ToArray());

        AssertEntry(state, "batch/a", "A"u8.ToArray(), version: 8, created: T0 + 2_000, updated: T0 + 2_000, expires: 0, pinned: false);
        AssertEntry(state, "batch/b", new byte[300], version: 8, created: T0 + 2_000, updated: T0 + 2_000, expires: 0, pinned: false);
        AssertEntry(state, "pinned/config", [], version: 7, created: T0 + 1_000, updated: T0 + 1_000, expires: 0, pinned: true);
        AssertEntry(state, "user/1", "alice-3"u8.ToArray(), version: 13, created: T0, updated: T0 + 4_000, expires: T0 + 4_000 + 86_400_000, pinned: false);
        AssertEntry(state, "ключ/значение", [0, 1, 2, 255], version: 3, created: T0, updated: T0, expires: T0 + 3_600_000, pinned: true);

        // The expiry index is rebuilt too: both TTL keys, at their versions.
        Assert.Equal([new("ключ/значение", 3L), new("user/1", 13L)], state.ExpiredKeys(long.MaxValue, 10));

        Assert.Equal(
            [
                ("idem-create", new IdempotencyTable.Record(7531161730756295714, new CommandResult(CommandOutcome.Created, 1), T0)),
                ("idem-update", new IdempotencyTable.Record(932677356869575241, new CommandResult(CommandOutcome.Updated, 5), T0 + 1_000)),
                ("idem-notfound", new IdempotencyTable.Record(14913015854587110504, new CommandResult(CommandOutcome.NotFound, 6), T0 + 1_000)),
                ("idem-batch", new IdempotencyTable.Record(18098232932315485222, new CommandResult(CommandOutcome.BatchApplied, 8), T0 + 2_000)),
                ("idem-batch-failed", new IdempotencyTable.Record(13259743030218509641, new CommandResult(CommandOutcome.PreconditionFailed, 8, FailedKey: failedKeyKept ? "user/1" : null), T0 + 2_000)),
                ("idem-precondition", new IdempotencyTable.Record(4623543072193393177, new CommandResult(CommandOutcome.PreconditionFailed, 0), T0 + 2_000)),
            ],
            state.Idempotency.Snapshot().ToArray());
    }

    private static void AssertEntry(CacheState state, string key, byte[] value, long version, long created, long updated, long expires, bool pinned)
    {
        Assert.True(state.TryGet(key, out var entry), key);
        Assert.Equal(value, entry.Value.ToArray());
        Assert.Equal((version, created, updated, expires, pinned), (entry.Version, entry.CreatedUnixMs, entry.UpdatedUnixMs, entry.ExpiresUnixMs, entry.Pinned));
    }

    [Fact]
    public void Sample_files_are_small_binaries()
    {
        Assert.Equal(3, File.ReadAllBytes(SamplePath("snapshot-v3.bin"))[0]);
        Assert.InRange(new FileInfo(SamplePath("snapshot-v3.bin")).Length, 1, 50 * 1024);
        Assert.InRange(new FileInfo(SamplePath(V1Entries)).Length, 1, 50 * 1024);
        Assert.InRange(new FileInfo(SamplePath(V2Entries)).Length, 1, 50 * 1024);
        Assert.All(ReadSamplePayloads(V1Entries), payload => Assert.Equal(CommandCodec.FormatVersion1, payload[0]));
        Assert.All(ReadSamplePayloads(V2Entries), payload => Assert.Equal(2, payload[0]));
    }

    [Fact]
    public async Task Sample_version_3_snapshot_restores_the_exact_state()
    {
        var state = new CacheState();
        await using (var input = File.OpenRead(SamplePath("snapshot-v3.bin")))
        {
            await state.RestoreSnapshotAsync(input, CancellationToken.None);
        }

        AssertSampleState(state, failedKeyKept: false); // version 3 did not store a batch's failed key
    }

    [Fact]
    public async Task Sample_version_3_snapshot_restores_through_the_state_machine_from_a_data_directory()
    {
        var directory = Directory.CreateTempSubdirectory("aspirecache-sample-");
        try
        {
            File.Copy(SamplePath("snapshot-v3.bin"), Path.Combine(directory.FullName, "120-3"));
            await using var machine = new CacheStateMachine(directory, 10_000, NullLogger<CacheStateMachine>.Instance);

            await machine.RestoreAsync();

            Assert.Equal(120, machine.LastSnapshotIndex);
            Assert.Equal(120, machine.Applied.Value);
            AssertSampleState(machine.State, failedKeyKept: false);
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    /// <summary>
    /// Each sample decodes to exactly the commands it was written from, and today's encoder writes it
    /// again byte for byte in its version (v1: what a leader writes during a rolling upgrade, see
    /// <see cref="CommandCodec"/>; v2: what it writes by default).
    /// </summary>
    [Theory]
    [InlineData(V1Entries, CommandCodec.FormatVersion1)]
    [InlineData(V2Entries, CommandCodec.FormatVersion)]
    public void Sample_log_entries_decode_to_the_commands_they_were_written_from_and_re_encode_byte_for_byte(string sample, byte version)
    {
        var bytes = File.ReadAllBytes(SamplePath(sample));
        var decoded = ReadSampleEntries(sample);
        var expected = ExpectedEntries();

        Assert.Equal(expected.Length, decoded.Count);
        using var reencoded = new MemoryStream();
        for (var i = 0; i < expected.Length; i++)
        {
            Assert.Equal(expected[i].TimestampUnixMs, decoded[i].TimestampUnixMs);
            Assert.Equal(expected[i].Commands.Count, decoded[i].Commands.Count);
            for (var c = 0; c < expected[i].Commands.Count; c++)
            {
                Assert.Equal(Describe(expected[i].Commands[c]), Describe(decoded[i].Commands[c]));
            }

            var payload = CommandCodec.Encode(expected[i], version);
            var length = new byte[4];
            BinaryPrimitives.WriteInt32LittleEndian(length, payload.Length);
            reencoded.Write(length);
            reencoded.Write(payload);
        }

        Assert.Equal(bytes, reencoded.ToArray());
    }

    [Fact]
    public void A_version_2_entry_is_its_version_1_bytes_with_version_2_and_a_CRC32C_of_them_appended()
    {
        var v1 = ReadSamplePayloads(V1Entries);
        var v2 = ReadSamplePayloads(V2Entries);

        Assert.Equal(v1.Count, v2.Count);
        for (var i = 0; i < v1.Count; i++)
        {
            byte[] body = [CommandCodec.FormatVersion, .. v1[i].AsSpan(1)];
            Assert.Equal(body, v2[i][..^CommandCodec.ChecksumBytes]);
            Assert.Equal(Crc32C.Hash(body), BinaryPrimitives.ReadUInt32LittleEndian(v2[i].AsSpan(v2[i].Length - CommandCodec.ChecksumBytes)));
            Assert.Equal(v2[i], CommandCodec.Encode(CommandCodec.Decode(v1[i])));
        }
    }

    [Theory]
    [InlineData(V1Entries)]
    [InlineData(V2Entries)]
    public async Task Sample_log_entries_replayed_give_the_sample_snapshots_state_and_its_results(string sample)
    {
        var replayed = new CacheState();
        var results = ReadSampleEntries(sample).Select(batch => replayed.Apply(batch)).ToArray();

        AssertSampleState(replayed, failedKeyKept: true);
        Assert.Equal(
            [
                new CommandResult(CommandOutcome.BatchApplied, 8),
                new CommandResult(CommandOutcome.PreconditionFailed, 8, FailedKey: "user/1"),
                new CommandResult(CommandOutcome.PreconditionFailed, 0),
            ],
            results[2]);
        Assert.Equal([new CommandResult(CommandOutcome.Removed, 11), new CommandResult(CommandOutcome.Removed, 12), new CommandResult(CommandOutcome.Updated, 13)], results[4]);

        // The fingerprints (persisted in snapshots) of today's code match the stored ones: a retry
        // after an upgrade is a replay, not a conflict.
        var restored = new CacheState();
        await using (var input = File.OpenRead(SamplePath("snapshot-v3.bin")))
        {
            await restored.RestoreSnapshotAsync(input, CancellationToken.None);
        }

        foreach (var batch in ExpectedEntries())
        {
            foreach (var command in batch.Commands.Where(c => c.IdempotencyKey is not null))
            {
                Assert.True(restored.Idempotency.TryGet(command.IdempotencyKey!, out var record));
                Assert.Equal(record.Fingerprint, IdempotencyTable.Fingerprint(command));
                var retry = restored.Apply(new CommandBatch(T0 + 5_000, [command]))[0];
                Assert.True(retry.Replayed);
                Assert.Equal(record.Result.Revision, retry.Revision);
            }
        }

        Assert.Equal(13, restored.Revision);
    }

    [Fact]
    public async Task A_restored_sample_written_again_is_version_4_and_restores_to_the_same_state()
    {
        var state = new CacheState();
        await using (var input = File.OpenRead(SamplePath("snapshot-v3.bin")))
        {
            await state.RestoreSnapshotAsync(input, CancellationToken.None);
        }

        using var output = new MemoryStream();
        await CacheState.WriteSnapshotAsync(state.Current, state.Idempotency, output, CancellationToken.None);
        Assert.Equal(SnapshotFormat.Version, output.ToArray()[0]);
        output.Position = 0;
        var again = new CacheState();
        await again.RestoreSnapshotAsync(output, CancellationToken.None);

        AssertSampleState(again, failedKeyKept: false);
    }

    private static string Describe(CacheCommand command) => command switch
    {
        SetCommand s => $"set {s.Key} [{Convert.ToHexString(s.Value.Span)}] expected={s.ExpectedVersion} ttl={s.TtlMs} pinned={s.Pinned} idem={s.IdempotencyKey}",
        DeleteCommand d => $"delete {d.Key} expected={d.ExpectedVersion} idem={d.IdempotencyKey}",
        BatchCommand b => new StringBuilder("batch sets=")
            .AppendJoin(',', b.Sets.Select(kv => $"{kv.Key}:{Convert.ToHexString(kv.Value.Span)}"))
            .Append(" deletes=").AppendJoin(',', b.Deletes)
            .Append(" conditions=").AppendJoin(',', b.Conditions.Select(kv => $"{kv.Key}:{kv.Value}"))
            .Append(" idem=").Append(b.IdempotencyKey).ToString(),
        RemoveCommand r => $"remove {r.Reason} {string.Join(',', r.Keys.Select(kv => $"{kv.Key}:{kv.Value}"))} idem={r.IdempotencyKey}",
        _ => throw new ArgumentOutOfRangeException(nameof(command)),
    };
}
