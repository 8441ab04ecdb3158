using AspireCache.Node.StateMachine;

namespace AspireCache.Tests.Unit;

/// <summary>The idempotency table is sized by log time within a byte bound (issue #15).</summary>
public sealed class IdempotencySizingTests
{
    private const long Start = 1_700_000_000_000;

    [Fact]
    public void Records_younger_than_the_window_survive_a_burst_beyond_the_old_100000_key_bound()
    {
        // 150,000 keyed writes in 15 s of log time (10,000/s, the measured rate), default limits.
        var state = new CacheState();
        const int Writes = 150_000;
        for (var i = 0; i < Writes; i++)
        {
            state.Apply(new CommandBatch(Start + (i / 10), [new SetCommand("k", new byte[] { 1 }) { IdempotencyKey = $"{i:D32}" }]));
        }

        Assert.Equal(Writes, state.Idempotency.Count);
        Assert.Equal(0, state.Idempotency.EvictedInsideWindow);
        var first = state.Apply(new CommandBatch(Start + 15_000, [new SetCommand("k", new byte[] { 1 }) { IdempotencyKey = $"{0:D32}" }]))[0];
        Assert.True(first.Replayed);
        Assert.Equal(1, first.Revision);
    }

    [Fact]
    public void Records_are_forgotten_once_older_than_the_window_by_log_time_only()
    {
        var state = new CacheState(new IdempotencyLimits(TimeSpan.FromSeconds(60), IdempotencyLimits.DefaultMaxBytes));
        state.Apply(new CommandBatch(Start, [new DeleteCommand("a") { IdempotencyKey = "old" }]));
        state.Apply(new CommandBatch(Start + 30_000, [new DeleteCommand("b") { IdempotencyKey = "young" }]));

        // At exactly the window's end the record is still kept ("at least" the window).
        state.Apply(new CommandBatch(Start + 60_000, [new DeleteCommand("c") { IdempotencyKey = "probe-1" }]));
        Assert.True(state.Idempotency.TryGet("old", out _));

        state.Apply(new CommandBatch(Start + 60_001, [new DeleteCommand("c") { IdempotencyKey = "probe-2" }]));
        Assert.False(state.Idempotency.TryGet("old", out _));
        Assert.True(state.Idempotency.TryGet("young", out _));
    }

    [Fact]
    public void A_snapshot_keeps_the_records_of_its_moment_while_the_table_goes_on_adding_and_forgetting()
    {
        // Taken on the apply loop and written afterwards while apply goes on: later adds, expiries and
        // byte-bound forgetting (across many storage chunks) must not show through, nor be hidden.
        var table = new IdempotencyTable(new IdempotencyLimits(TimeSpan.FromSeconds(10), 16L * 1024 * 1024));
        for (var i = 0; i < 5_000; i++)
        {
            table.Add($"key-{i:D6}", new IdempotencyTable.Record((ulong)i, new CommandResult(CommandOutcome.Created, i), Start + i));
        }

        var expected = table.Snapshot().ToList();
        var snapshot = table.Snapshot();
        for (var i = 5_000; i < 40_000; i++)
        {
            table.Expire(Start + i); // a 10 s window: the first records go
            // Long keys: the snapshot's last chunk gets more keys than its character arena held when taken.
            table.Add($"key-{i:D6}" + new string('y', 400), new IdempotencyTable.Record((ulong)i, new CommandResult(CommandOutcome.Created, i), Start + i));
        }

        Assert.False(table.TryGet("key-000000", out _)); // the table moved on
        Assert.True(table.TryGet("key-039999" + new string('y', 400), out var newest) && newest.Fingerprint == 39_999);
        Assert.Equal(5_000, snapshot.Count);
        Assert.Equal(expected, snapshot.ToList());
        Assert.Equal(table.Count, table.Snapshot().Count);
        Assert.Equal(table.Snapshot().Select(e => e.Record.Result.Revision), Enumerable.Range(40_000 - table.Count, table.Count).Select(i => (long)i));
    }

    [Fact]
    public void A_key_recorded_again_keeps_one_record_the_newest_and_its_old_slot_is_skipped_and_forgotten_quietly()
    {
        var table = new IdempotencyTable(new IdempotencyLimits(TimeSpan.FromSeconds(10), IdempotencyLimits.DefaultMaxBytes));
        table.Add("a", new IdempotencyTable.Record(1, new CommandResult(CommandOutcome.Created, 1), Start));
        table.Add("b", new IdempotencyTable.Record(2, new CommandResult(CommandOutcome.Created, 2), Start));
        var before = table.Snapshot();
        table.Add("a", new IdempotencyTable.Record(3, new CommandResult(CommandOutcome.Updated, 3), Start + 5_000));

        Assert.Equal(2, table.Count);
        Assert.Equal(["b", "a"], table.Snapshot().Select(e => e.Key));
        Assert.True(table.TryGet("a", out var a) && a.Fingerprint == 3);
        Assert.Equal(IdempotencyTable.SizeOf("a", a) + IdempotencyTable.SizeOf("b", default), table.SizeBytes);
        Assert.Equal(["a", "b"], before.Select(e => e.Key)); // a snapshot from before still has the old one
        Assert.Equal(1UL, before.First().Record.Fingerprint);

        table.Expire(Start + 10_001); // "b" and a's old slot are past the window; the new "a" is not
        Assert.Equal(["a"], table.Snapshot().Select(e => e.Key));
        Assert.Equal(IdempotencyTable.SizeOf("a", a), table.SizeBytes);
        Assert.Single(table.Snapshot());
    }

    [Fact]
    public void The_byte_bound_holds_and_the_oldest_go_first_even_inside_the_window()
    {
        const long MaxBytes = 1024 * 1024;
        var table = new IdempotencyTable(new IdempotencyLimits(TimeSpan.FromMinutes(10), MaxBytes));
        var total = 0;
        for (var i = 0; i < 20_000; i++, total++)
        {
            // Mixed sizes, some results with a failed key (accounted too).
            var key = new string('x', i % 100) + i.ToString(System.Globalization.CultureInfo.InvariantCulture);
            var result = i % 7 == 0
                ? new CommandResult(CommandOutcome.PreconditionFailed, i, FailedKey: new string('f', i % 50))
                : new CommandResult(CommandOutcome.Created, i);
            table.Add(key, new IdempotencyTable.Record((ulong)i, result, Start + i));
            Assert.True(table.SizeBytes <= MaxBytes);
        }

        var kept = table.Snapshot().ToList();
        Assert.Equal(table.Count, kept.Count);
        Assert.Equal(kept.Sum(r => IdempotencyTable.SizeOf(r.Key, r.Record)), table.SizeBytes);
        Assert.True(table.SizeBytes > MaxBytes - 1024, "the bound is used, not undershot");

        // The newest are kept, contiguously: exactly the oldest were forgotten.
        var results = kept.Select(r => r.Record.Result.Revision).ToList();
        Assert.Equal(Enumerable.Range(total - kept.Count, kept.Count).Select(i => (long)i), results);
        Assert.Equal(total - kept.Count, table.EvictedInsideWindow);
    }

    [Fact]
    public void Replicas_applying_the_same_log_keep_exactly_the_same_records_and_a_restore_keeps_them_too()
    {
        var limits = new IdempotencyLimits(TimeSpan.FromSeconds(2), 64 * 1024);
        var a = new CacheState(limits);
        var b = new CacheState(limits);
        for (var i = 0; i < 3_000; i++)
        {
            var batch = new CommandBatch(Start + (i * 3), [
                new SetCommand($"k{i % 17}", new byte[] { (byte)i }) { IdempotencyKey = $"req-{i}" },
                new DeleteCommand($"k{(i + 5) % 17}") { IdempotencyKey = i % 3 == 0 ? $"req-{i / 2}" : null },
            ]);
            Assert.Equal(a.Apply(batch), b.Apply(batch));
        }

        Assert.Equal(a.Idempotency.Snapshot(), b.Idempotency.Snapshot());
        Assert.Equal(a.Idempotency.SizeBytes, b.Idempotency.SizeBytes);
        Assert.True(a.Idempotency.SizeBytes <= limits.MaxBytes);
    }

    [Fact]
    public async Task A_restore_keeps_the_records_their_order_and_failed_keys()
    {
        var state = new CacheState();
        state.Apply(new CommandBatch(Start, [new SetCommand("a", new byte[] { 1 })]));
        var failed = state.Apply(new CommandBatch(Start + 1, [new BatchCommand([new("b", new byte[] { 2 })], []) { Conditions = [new("a", 99)], IdempotencyKey = "cas" }]))[0];
        state.Apply(new CommandBatch(Start + 2, [new DeleteCommand("a") { IdempotencyKey = "del" }]));
        Assert.Equal("a", failed.FailedKey);

        using var stream = new MemoryStream();
        await CacheState.WriteSnapshotAsync(state.Current, state.Idempotency, stream, CancellationToken.None);
        Assert.Equal(SnapshotFormat.Version, stream.ToArray()[0]);
        stream.Position = 0;
        var restored = new CacheState();
        await restored.RestoreSnapshotAsync(stream, CancellationToken.None);

        Assert.Equal(state.Idempotency.Snapshot(), restored.Idempotency.Snapshot());
        Assert.Equal(state.Idempotency.SizeBytes, restored.Idempotency.SizeBytes);
        var replay = restored.Apply(new CommandBatch(Start + 3, [new BatchCommand([new("b", new byte[] { 2 })], []) { Conditions = [new("a", 99)], IdempotencyKey = "cas" }]))[0];
        Assert.Equal(failed with { Replayed = true }, replay);
    }

    [Fact]
    public void Limits_are_set_before_anything_is_applied()
    {
        var state = new CacheState();
        var limits = new IdempotencyLimits(TimeSpan.FromSeconds(90), 8 * 1024 * 1024);
        state.UseIdempotencyLimits(limits);
        Assert.Equal(limits, state.Idempotency.Limits);

        state.Apply(new CommandBatch(Start, [new SetCommand("a", new byte[] { 1 })]));
        Assert.Throws<InvalidOperationException>(() => state.UseIdempotencyLimits(IdempotencyLimits.Default));
    }
}
